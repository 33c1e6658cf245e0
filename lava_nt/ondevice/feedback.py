"""The fixed feedback matrices ``B_l [n_l, n_out]`` of on-device tuning, which carry the output
error to each tuned layer (``l = B_l e``; the rule is :mod:`lava_nt.spec.learning`, the run's
settings :class:`lava_nt.ondevice.rule.OnDeviceRule`):

``identity``
    ``B_l = [I 0]`` (``eye(n_l, n_out)``): neuron ``i`` of the layer gets output neuron ``i``'s
    error (the identity for the output layer itself).
``derived``
    ``B_l = M_l``, the least-squares solution of ``C_l M_l = C_out`` over a batch, with ``C_l``
    ``[N, n_l]`` the layer's spike counts and ``C_out`` ``[N, n_out]`` the output's, measured once
    offline on the pretrained network (the abstracted gradient of thesis ch. 3: ``M`` maps the
    layer's activity to the output's, so ``M e`` carries the output error back through the
    skipped layers). The output layer keeps the identity.

In fixed point a float matrix becomes 8-bit Dense mantissas ``B_mant`` and an exponent:
``B_exp = ceil(log2(max|B| / 254))`` clipped to Lava's ``-8 .. 7`` and ``B_mant = clip(round(B /
2**B_exp), -254, 254)``, so ``l = (B_mant e) << B_exp`` (a right shift for a negative exponent)
approximates ``B e``; 0/1 matrices stay as they are (exponent 0). The Dense then uses the
effective weights of :func:`lava_nt.spec.fixed.dense_effective_weights` (a mixed-sign matrix
loses its LSB), which the twin applies too.
"""

from __future__ import annotations

import math

import numpy as np

from lava_nt.network import NetworkSpec, run_reference
from lava_nt.ondevice.readout import readout_feedback
from lava_nt.spec.fixed import WEIGHT_MANT_MAX
from lava_nt.spec.quantization import WEIGHT_EXP_MAX, WEIGHT_EXP_MIN, round_half_away
from lava_nt.spec.validation import ParameterError

FEEDBACK_KINDS = ("identity", "derived")


def _check_feedback(B, exp, n: int, n_out: int, fixed: bool, where: str) -> None:
    B = np.asarray(B)
    if B.shape != (n, n_out):
        raise ParameterError(f"{where}: B must have shape ({n}, {n_out}), got {B.shape}")
    if not np.all(np.isfinite(B)):
        raise ParameterError(f"{where}: B holds non-finite values")
    if fixed:
        if np.any(B != np.round(B)) or np.any(np.abs(B) > WEIGHT_MANT_MAX + 1):
            raise ParameterError(f"{where}: fixed-point B must hold 8-bit integer mantissas")
        if isinstance(exp, bool) or int(exp) != exp or not WEIGHT_EXP_MIN <= exp <= WEIGHT_EXP_MAX:
            raise ParameterError(
                f"{where}: exponent must be an int in [{WEIGHT_EXP_MIN}, {WEIGHT_EXP_MAX}]"
            )
    elif exp != 0:
        raise ParameterError(f"{where}: a float feedback matrix has exponent 0")


# ---- feedback matrices ------------------------------------------------------------------------
def identity_feedback(n: int, n_out: int) -> np.ndarray:
    """``[I 0]``: ``eye(n, n_out)`` as float64."""
    return np.eye(n, n_out)


def derived_feedback(counts_layer, counts_out) -> np.ndarray:
    """The least-squares ``M`` ``[n_l, n_out]`` of ``counts_layer M = counts_out`` (counts
    ``[N, n_l]`` and ``[N, n_out]`` of the same ``N`` samples; minimum-norm solution)."""
    c_l = np.asarray(counts_layer, np.float64)
    c_o = np.asarray(counts_out, np.float64)
    if c_l.ndim != 2 or c_o.ndim != 2 or c_l.shape[0] != c_o.shape[0] or c_l.shape[0] < 1:
        raise ParameterError(
            f"derived_feedback: counts must be [N, n_l] and [N, n_out] with the same N >= 1, "
            f"got {c_l.shape} and {c_o.shape}"
        )
    return np.linalg.lstsq(c_l, c_o, rcond=None)[0]


def layer_counts(spec: NetworkSpec, x) -> list[np.ndarray]:
    """Every layer's spike counts ``[N, n_l]`` on input ``x [T, N, n_in]`` (numpy reference)."""
    res = run_reference(spec, x, record=True)
    return [np.asarray(rec["spikes"]).sum(0) for rec in res.layers]


def fixed_feedback(B) -> tuple[np.ndarray, int]:
    """``(B_mant, B_exp)``: 8-bit Dense mantissas and exponent approximating a float ``B``
    (module docstring); a 0/1 matrix is returned unchanged with exponent 0."""
    B = np.asarray(B, np.float64)
    if np.all((B == 0) | (B == 1)):
        return B.astype(np.int64), 0
    top = float(np.max(np.abs(B)))
    if top == 0.0:
        return np.zeros(B.shape, np.int64), 0
    lim = WEIGHT_MANT_MAX - 1
    exp = int(np.clip(math.ceil(math.log2(top / lim)), WEIGHT_EXP_MIN, WEIGHT_EXP_MAX))
    return np.clip(round_half_away(B / 2.0**exp), -lim, lim).astype(np.int64), exp


def feedback_matrices(spec: NetworkSpec, layers, kind: str = "identity", x=None) -> list:
    """Float feedback matrices for the tuned ``layers``: ``identity`` or ``derived`` (from the
    spike counts of ``spec`` on ``x [T, N, n_in]``, required then)."""
    if kind not in FEEDBACK_KINDS:
        raise ParameterError(f"feedback: kind must be one of {FEEDBACK_KINDS}, got {kind!r}")
    n_out = spec.n_out
    last = len(spec.layers) - 1
    ro = None if spec.readout is None else readout_feedback(spec)
    if kind == "identity":
        return [ro if k == last and ro is not None else identity_feedback(spec.layers[k].n, n_out)
                for k in layers]  # fmt: skip
    if x is None:
        raise ParameterError("feedback: 'derived' needs input x to measure the layers' counts")
    counts = layer_counts(spec, x)
    mats = [
        np.eye(spec.layers[k].n) if k == last and ro is not None
        else identity_feedback(spec.layers[k].n, n_out) if k == last
        else derived_feedback(counts[k], counts[last])
        for k in layers
    ]  # fmt: skip
    return mats if ro is None else [m @ ro for m in mats]
