"""The quantiser of a whole network (:func:`quantize`) and gain folding (:func:`fold_gains`)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from lava_nt.converters.quantize.layers import _quantize_layer
from lava_nt.converters.quantize.readout import quantize_readout
from lava_nt.converters.quantize.registers import (
    NETX_BIAS_EXP,
    NETX_WEIGHT_EXP_MAX,
    TARGETS,
    QuantizationError,
    _decay_values,
    _per_neuron,
    _scalar,
)
from lava_nt.converters.quantize.report import QuantReport
from lava_nt.converters.quantize.scale import GRADED_PEAK
from lava_nt.network import LayerSpec, NetworkSpec
from lava_nt.spec.fixed import (
    BIAS_EXP_MAX,
)
from lava_nt.spec.ntlif import ntlif_parameters
from lava_nt.spec.quantization import QUANT_WEIGHT_EXP_MAX
from lava_nt.spec.validation import ParameterError


# ---- folding --------------------------------------------------------------------------------
def fold_gains(spec: NetworkSpec) -> NetworkSpec:
    """The same float network with every NT1 gain folded into its weight row and bias:
    ``g (W s + b) = (g W) s + g b`` (exact in real arithmetic), gains then 1.

    Spiking biases are kept (their current is not scaled by the gain)."""
    _check_float_spec(spec, "fold_gains")
    layers = []
    for k, ls in enumerate(spec.layers):
        p = ls.neuron
        n = ls.n
        g = _per_neuron(p.gain, n)
        b = _per_neuron(p.bias, n)
        neuron = ntlif_parameters(
            n,
            f"fold_gains layer {k}",
            du=_decay_values(p.du),
            dv=_decay_values(p.dv),
            vth=_scalar(p.vth),
            reset=p.reset,
            bias=g * b,
            gain=np.ones(n),
        )
        W = np.asarray(ls.weight, dtype=np.float64) * g[:, None]
        layers.append(
            LayerSpec(weight=W, neuron=neuron, spiking_bias=ls.spiking_bias, delay=ls.delay)
        )
    return NetworkSpec(
        n_in=spec.n_in, layers=layers, fixed=False, readout=spec.readout, input=spec.input
    )


_fold = fold_gains  # quantize()'s flag of the same name shadows the function


def _check_float_spec(spec, where: str) -> None:
    if not isinstance(spec, NetworkSpec):
        raise ParameterError(f"{where}: expected a lava_nt.network.NetworkSpec, got {type(spec)}")
    if spec.fixed:
        raise ParameterError(f"{where}: the spec is already fixed point (spec.fixed=True)")


# ---- the quantiser --------------------------------------------------------------------------
def quantize(
    spec: NetworkSpec,
    *,
    fold_gains: bool = False,
    target: str = "lava",
    bias_exp: str | int = "neuron",
    scales: list[float | None] | float | None = None,
    bias_scales: list[float | None] | float | None = None,
    power_of_two: bool = False,
    input_scale: float | None = None,
    readout_scale: float | None = None,
    readout_window: int = 100,
    input_peak: float | None = None,
) -> tuple[NetworkSpec, QuantReport]:
    """Quantise a floating-point ``spec`` to a fixed-point one (see the module docstring).

    Args:
        spec: a float :class:`~lava_nt.network.NetworkSpec` (e.g. ``NTNetwork.to_spec()``).
        fold_gains: fold NT1 gains into weights and biases first (gain-free result).
        target: ``"lava"`` (lava-nt's NTLIF / SpikingBias processes, or stock Lava when gain-free)
            or ``"netx"`` (lava-dl netx: implies ``fold_gains``, ``bias_exp=6``, weight exponents
            <= 0; spiking biases and reset "subtract" are refused).
        bias_exp: ``"neuron"`` (one exponent per neuron: most precise), ``"layer"`` (one per
            layer) or a fixed int in 0..7 (netx uses 6).
        scales: force the voltage scale ``S`` of every layer (a number) or of some (a list with
            None for automatic); values outside the registers are then clipped and reported.
        bias_scales: the same for the spiking-bias populations' own scales ``S_b``.
        power_of_two: lower automatic scales to a power of two (integer-valued parameters then
            map exactly) instead of filling the 8-bit weight range (default, more precise).
        input_scale: graded input only: the fixed-point network takes the integers
            ``round(x * input_scale)`` (default 1: the data are integers already); the first
            layer's weights are divided by it. Recorded in ``report.input_scale``.
        input_peak: graded input only: the largest magnitude of that integer input in one step
            (default :data:`~lava_nt.converters.quantize.scale.GRADED_PEAK` = 255, the 8-bit
            range the input-scale rule maps data into). The first layer's scale is chosen so
            that its 24-bit current cannot wrap even when every input sits at this peak.
        readout_scale: force the readout's voltage scale (default: the largest one its weights
            and biases fit with no 24-bit overflow over ``readout_window`` steps, lowered to fill
            the 8-bit weight range).
        readout_window: the longest window (steps) the readout must integrate without overflow.

    Returns:
        ``(fixed_spec, report)``.

    Raises:
        QuantizationError: something cannot be represented (du = 0, a threshold too small at
            any scale, a dynamic range too wide, netx-incompatible features).
    """
    _check_float_spec(spec, "quantize")
    bias_exp, fold_gains = _check_target(spec, target, bias_exp, fold_gains)
    s_x = _check_input_scale(spec, input_scale)
    if spec.graded and s_x != 1.0:
        spec = _scale_first_layer(spec, 1.0 / s_x)
    nl = len(spec.layers)
    scales = _scale_list(scales, nl, "scales")
    bias_scales = _scale_list(bias_scales, nl, "bias_scales")
    src = _fold(spec) if fold_gains else spec
    exp_max = NETX_WEIGHT_EXP_MAX if target == "netx" else QUANT_WEIGHT_EXP_MAX
    report = QuantReport(
        layers=[],
        fold_gains=bool(fold_gains),
        target=target,
        bias_exp_mode=str(bias_exp),
    )
    peak = _check_input_peak(spec, input_peak)
    layers = []
    for k, ls in enumerate(src.layers):
        fl, lq = _quantize_layer(k, ls, bias_exp, scales[k], bias_scales[k], power_of_two, exp_max,
                                 peak if k == 0 else 1.0)  # fmt: skip
        layers.append(fl)
        report.layers.append(lq)
    report.input_scale = float(s_x)
    fixed_ro = None
    if src.readout is not None:
        if readout_scale is not None:
            readout_scale = _scale_list(readout_scale, 1, "readout_scale")[0]
        fixed_ro, report.readout = quantize_readout(
            src.readout, nl, bias_exp, readout_scale, power_of_two, exp_max, readout_window
        )
    try:
        fixed = NetworkSpec(
            n_in=src.n_in, layers=layers, fixed=True, readout=fixed_ro, input=src.input
        )
    except ParameterError as exc:  # pragma: no cover - every register is range-checked above
        raise QuantizationError(f"quantize: internal error: {exc}") from exc
    return fixed, report


def _check_target(spec: NetworkSpec, target: str, bias_exp, fold_gains: bool):
    """``(bias_exp, fold_gains)`` for ``target`` ("netx" fixes both and refuses what netx cannot
    express: spiking biases, reset by subtraction, a readout that does not accumulate)."""
    if target not in TARGETS:
        raise ParameterError(f"quantize: target must be one of {TARGETS}, got {target!r}")
    if target == "netx":
        if bias_exp not in ("neuron", NETX_BIAS_EXP):
            raise ParameterError("quantize: target='netx' fixes bias_exp at 6")
        bias_exp = NETX_BIAS_EXP
        fold_gains = True
        for k, ls in enumerate(spec.layers):
            if ls.spiking_bias is not None:
                raise QuantizationError(
                    f"quantize(target='netx'): layer {k} has a spiking bias, which netx cannot "
                    "express; deploy it with lava_nt's processes (target='lava')"
                )
            if ls.neuron.reset_subtract:
                raise QuantizationError(
                    f"quantize(target='netx'): layer {k} resets by subtraction; netx's CUBA "
                    "neurons (Lava LIF) reset to zero"
                )
    if isinstance(bias_exp, bool) or not (
        bias_exp in ("neuron", "layer")
        or (isinstance(bias_exp, int | np.integer) and 0 <= bias_exp <= BIAS_EXP_MAX)
    ):
        raise ParameterError(
            f"quantize: bias_exp must be 'neuron', 'layer' or an int in 0..{BIAS_EXP_MAX}, "
            f"got {bias_exp!r}"
        )
    if spec.readout is not None and target == "netx":
        rp = spec.readout.params
        if float(rp.du) != 0.0 or float(rp.dv) != 1.0:
            raise QuantizationError(
                "quantize(target='netx'): netx's readout (a dense layer without neuron group) "
                f"accumulates its current (du = 0, dv = 1); this readout has du={rp.du}, dv={rp.dv}"
            )
    return bias_exp, fold_gains


def _check_input_scale(spec: NetworkSpec, input_scale) -> float:
    """The graded input's scale (1 if None); raises for a non-positive one or spiking input."""
    s_x = 1.0 if input_scale is None else input_scale
    if (
        isinstance(s_x, bool)
        or not isinstance(s_x, int | float)
        or not (s_x > 0)
        or not (math.isfinite(s_x))
    ):
        raise ParameterError(f"quantize: input_scale must be a positive number, got {s_x!r}")
    if input_scale is not None and not spec.graded:
        raise ParameterError("quantize: input_scale applies to graded input (input='graded')")
    return s_x


def _check_input_peak(spec: NetworkSpec, input_peak) -> float:
    """The integer input's peak per step the first layer's current bound assumes: 1 for spikes,
    ``input_peak`` (default :data:`GRADED_PEAK`) for graded input; raises for a bad value."""
    if input_peak is None:
        return GRADED_PEAK if spec.graded else 1.0
    if (
        isinstance(input_peak, bool)
        or not isinstance(input_peak, int | float | np.integer | np.floating)
        or not math.isfinite(input_peak)
        or input_peak <= 0
    ):
        raise ParameterError(f"quantize: input_peak must be a positive number, got {input_peak!r}")
    if not spec.graded:
        raise ParameterError("quantize: input_peak applies to graded input (input='graded')")
    return float(input_peak)


def _scale_first_layer(spec: NetworkSpec, factor: float) -> NetworkSpec:
    """``spec`` with the first layer's weights (and spiking-bias ``W_in``) times ``factor``."""
    first = spec.layers[0]
    sb = first.spiking_bias
    if sb is not None:
        sb = dataclasses.replace(sb, w_in=np.asarray(sb.w_in, dtype=np.float64) * factor)
    first = dataclasses.replace(
        first, weight=np.asarray(first.weight, dtype=np.float64) * factor, spiking_bias=sb
    )
    return dataclasses.replace(spec, layers=[first, *spec.layers[1:]])


def _scale_list(x, n: int, name: str) -> list:
    if x is None:
        return [None] * n
    if isinstance(x, int | float) and not isinstance(x, bool):
        x = [x] * n
    x = list(x)
    if len(x) != n:
        raise ParameterError(f"quantize: '{name}' needs {n} entries, got {len(x)}")
    for v in x:
        if v is not None and not (isinstance(v, int | float) and v > 0 and math.isfinite(v)):
            raise ParameterError(f"quantize: '{name}' entries must be positive numbers or None")
    return [None if v is None else float(v) for v in x]
