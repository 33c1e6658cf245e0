"""Validation at the boundary: the input, the spec for a precision, networks sharing a source."""

from __future__ import annotations

import numpy as np

from lava_nt.converters.lava_graph.constants import PRECISIONS
from lava_nt.network import NetworkSpec, check_network_input
from lava_nt.spec.fixed import WEIGHT_MANT_MAX, WEIGHT_MANT_MIN  # Dense: -256 .. 255
from lava_nt.spec.quantization import WEIGHT_EXP_MAX, WEIGHT_EXP_MIN  # hardware: -8 .. 7
from lava_nt.spec.validation import ParameterError


def check_input(spec: NetworkSpec, x, where: str = "run_network") -> np.ndarray:
    """``x`` as a validated ``[T, B, n_in]`` float array: binary spikes, or the graded values
    of a ``input="graded"`` spec (integers in fixed point)."""
    if getattr(spec, "input", "spikes") == "graded":
        return check_network_input(spec, x, where)
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise ParameterError(
            f"{where}: x must be a numpy array [T, B, n_in], got {type(x).__name__}"
        )
    if x.ndim != 3 or x.shape[2] != spec.n_in or x.shape[0] < 1 or x.shape[1] < 1:
        raise ParameterError(
            f"{where}: x must have shape [T, B, {spec.n_in}] with T, B >= 1, got {x.shape}"
        )
    if not (x.dtype == np.bool_ or np.issubdtype(x.dtype, np.number)):
        raise ParameterError(f"{where}: x must be numeric or boolean, got dtype {x.dtype}")
    if np.iscomplexobj(x):
        raise ParameterError(f"{where}: x must be real binary spikes, got complex values")
    xf = x.astype(np.float64)
    if not np.all((xf == 0) | (xf == 1)):
        bad = xf[(xf != 0) & (xf != 1)].ravel()[0]
        raise ParameterError(f"{where}: x must hold binary spikes (0 or 1), found {bad!r}")
    return xf


def check_spec(spec: NetworkSpec, precision: str, where: str = "run_network") -> None:
    if not isinstance(spec, NetworkSpec):
        raise ParameterError(f"{where}: spec must be a NetworkSpec, got {type(spec).__name__}")
    if precision not in PRECISIONS:
        raise ParameterError(f"{where}: precision must be one of {PRECISIONS}, got {precision!r}")
    if spec.fixed != (precision == "fixed"):
        kind = "fixed-point" if spec.fixed else "floating-point"
        raise ParameterError(
            f"{where}: precision={precision!r} but the spec is {kind} (spec.fixed={spec.fixed}); "
            "convert the spec first or pass the matching precision"
        )
    if precision == "fixed":
        for k, layer in enumerate(spec.layers):
            _check_fixed_dense(layer.weight, layer.weight_exp, f"{where}: layer {k} weight")
            if layer.spiking_bias is not None:
                sb = layer.spiking_bias
                _check_fixed_dense(sb.w_in, sb.w_in_exp, f"{where}: layer {k} spiking_bias.w_in")
        if spec.readout is not None:
            ro = spec.readout
            _check_fixed_dense(ro.weight, ro.weight_exp, f"{where}: readout weight")


def _check_fixed_dense(w, exp, where: str) -> None:
    w = np.asarray(w)
    if np.any(w != np.round(w)):
        raise ParameterError(f"{where} must hold integer mantissas")
    if w.size and (w.min() < WEIGHT_MANT_MIN or w.max() > WEIGHT_MANT_MAX):
        raise ParameterError(
            f"{where} mantissas must be in [{WEIGHT_MANT_MIN}, {WEIGHT_MANT_MAX}] (8-bit Loihi "
            f"weights), got [{w.min()}, {w.max()}]"
        )
    if isinstance(exp, bool) or int(exp) != exp or not WEIGHT_EXP_MIN <= int(exp) <= WEIGHT_EXP_MAX:
        raise ParameterError(
            f"{where} exponent must be an int in [{WEIGHT_EXP_MIN}, {WEIGHT_EXP_MAX}], got {exp!r}"
        )


def check_shared_input(specs, precisions, where: str) -> None:
    """Networks on one source need the same input (size and kind), and graded input one
    precision (the source sends real values in float and integers in fixed point)."""
    first = specs[0]
    for i, spec in enumerate(specs[1:], start=1):
        if spec.n_in != first.n_in or spec.graded != first.graded:
            raise ParameterError(
                f"{where}: network {i} takes {spec.n_in} {spec.input} inputs, network 0 "
                f"{first.n_in} {first.input}; networks on one source need the same input"
            )
    if first.graded and len(set(precisions)) > 1:
        raise ParameterError(
            f"{where}: graded input needs one precision for all networks (the source sends real "
            "values in float and integers in fixed point); run them separately"
        )
