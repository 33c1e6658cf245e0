"""The error gate and class weights of the on-device rule (opt-in; float and Loihi integers).

The output error of :mod:`lava_nt.spec.learning` (``e_j = learn * (target_j(y) - count_j)``)
pushes on every tuning sample, so on imbalanced data it learns the class prior. Two opt-in
factors change which samples push and how hard::

    pred     = argmax_c sum_{j in class c} count_j         lowest class on a tie (the decoder)
    gate     = 1                      ("always", the default: today's rule)
             = [pred != y]            ("misclassified": a sample pushes only while it is wrong)
    e_j      = learn * gate * w_y * (target_j(y) - count_j)                        float
    e_j      = sat24( rshift_round( learn * gate * w_mant_y * (target_j(y) - count_j),
                                    w_shift ) )                                     fixed point
    w_y      = N / (K * N_y)          ("balanced" class weights; 1 for every class without)

Legend: ``count_j`` output neuron ``j``'s spikes in the window (the population code: ``n_out /
K`` neurons per class, class ``c`` owns neurons ``c * n_out/K .. (c+1) * n_out/K - 1``), ``y`` the
sample's label, ``K`` the classes, ``N`` the tuning samples (``learn = 1``) and ``N_y`` those of
class ``y``, so every class pushes with the same total weight ``N / K``. The gate is what the
error process computes from the sample's own counts at the end of its window, with the tie rule
of :func:`lava_nt.decode.predict` (``argmax``: the lowest class index among equal scores, so a
sample without any output spike is predicted class 0). In fixed point the weights are unsigned
12-bit mantissas ``w_mant`` with one shared right shift ``w_shift`` (``w ~ w_mant / 2**w_shift``,
:func:`fixed_class_weights`); ``rshift_round`` divides by ``2**w_shift`` rounding half away from
zero and ``sat24`` saturates to ``±(2**23 - 1)`` as the readout error does. Without weights
(``w_mant = 1``, ``w_shift = 0``) and with the gate ``"always"`` both equal the rule's error
exactly (``|target - count| <= T <= 2**16``, so the saturation never acts). Overflow:
``|w_mant * (target - count)| < 2**12 * 2**17``, far inside int64.

A network ending in a readout (:mod:`lava_nt.spec.learning`, "Readout output") uses its window
values ``value_j`` for ``count_j`` (``pred`` their argmax, one unit per class) and in fixed
point shifts by ``err_shift + w_shift``: ``e_j = sat24(rshift_round(learn * gate * w_mant_y *
(target_j - value_j), err_shift + w_shift))`` (``|w_mant * (target - value)| < 2**12 * 2**25``);
its ``err_shift`` grows by :func:`weight_bits` so that ``l = B e`` stays inside 24 bits.

Operators only (plus ``argmax``/``reshape`` of the array's own namespace), so the twin (numpy or
torch) and the Lava error process run the same functions.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from lava_nt.spec.fixed import saturate
from lava_nt.spec.learning import ELIG_BITS, rshift_round
from lava_nt.spec.quantization import round_half_away
from lava_nt.spec.validation import ParameterError, as_values

#: The error gates: every tuning sample pushes, or only the misclassified ones.
ERROR_GATES = ("always", "misclassified")
#: Unsigned bits of a fixed-point class weight mantissa.
WEIGHT_MANT_BITS = 12
WEIGHT_MANT_MAX = (1 << WEIGHT_MANT_BITS) - 1
#: Largest shared right shift of the fixed-point class weights.
WEIGHT_SHIFT_MAX = 24


class FixedClassWeights(NamedTuple):
    """Integer class weights: ``w_y ~ w_mant[y] / 2**w_shift``.

    Attributes:
        w_mant: ``[K]`` unsigned 12-bit mantissas (int64).
        w_shift: the shared right shift (``0 .. 24``).
    """

    w_mant: np.ndarray
    w_shift: int


def check_error_gate(gate, where: str) -> str:
    """``gate`` if it is one of :data:`ERROR_GATES`, else a :class:`ParameterError`."""
    if gate not in ERROR_GATES:
        raise ParameterError(f"{where}: error gate must be one of {ERROR_GATES}, got {gate!r}")
    return gate


def predicted_class(count, n_classes: int) -> int:
    """The class the output counts ``[n_out]`` vote for: the argmax of the class populations'
    summed counts, the lowest class on a tie (as :func:`lava_nt.decode.predict`)."""
    scores = count.reshape(int(n_classes), -1).sum(-1)
    return int(scores.argmax())


def gate_open(count, label: int, n_classes: int, gate: str) -> int:
    """1 if the sample pushes (``"always"``, or ``"misclassified"`` and the counts predict
    another class than ``label``), else 0."""
    if gate == "always":
        return 1
    return int(predicted_class(count, n_classes) != int(label))


def weighted_error(count, target, learn, g: int, w):
    """Float ``learn * g * w * (target - count)`` (``g`` the gate, ``w`` the label's weight)."""
    return (learn * g * w) * (target - count)


def fixed_weighted_error(count, target, learn, g: int, w_mant: int, w_shift: int):
    """``sat24(rshift_round(learn * g * w_mant * (target - count), w_shift))``."""
    return saturate(rshift_round((learn * g * w_mant) * (target - count), w_shift), ELIG_BITS)


def sample_error(count, target, learn, label: int, n_classes: int, gate: str = "always",
                 weights=None, fixed: bool = False, err_shift: int = 0):  # fmt: skip
    """The output error of one window with the gate and the class weights (module docstring):
    ``weights`` None (all 1), a float ``[K]`` array, or :class:`FixedClassWeights` (``fixed``).
    A readout passes its window values as ``count`` and, in fixed point, its ``err_shift``,
    which adds to ``w_shift`` (without gate and weights: the readout error exactly)."""
    g = gate_open(count, label, n_classes, gate)
    y = int(label)
    if fixed:
        mant, shift = (1, 0) if weights is None else (int(weights.w_mant[y]), weights.w_shift)
        return fixed_weighted_error(count, target, int(learn), g, mant, shift + err_shift)
    w = 1.0 if weights is None else float(weights[y])
    return weighted_error(count, target, learn, g, w)


def balanced_class_weights(labels, n_classes: int, learn=None,
                           where: str = "class weights") -> np.ndarray:  # fmt: skip
    """``w_y = N / (K * N_y)`` over the tuning samples (``learn = 1``; all if None): float64
    ``[K]``. Every class must occur among them (else its weight is undefined)."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral) or n_classes < 1:
        raise ParameterError(f"{where}: n_classes must be an int >= 1, got {n_classes!r}")
    y = np.asarray(labels)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ParameterError(f"{where}: labels must be 1-D integers, got {y.dtype} {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ParameterError(f"{where}: labels must lie in [0, {n_classes})")
    if learn is not None:
        lr = np.asarray(learn)
        if lr.shape != y.shape or not np.all((lr == 0) | (lr == 1)):
            raise ParameterError(f"{where}: learn must be {y.size} flags (0 or 1)")
        y = y[lr == 1]
    n_y = np.bincount(y, minlength=n_classes)
    missing = np.flatnonzero(n_y == 0)
    if missing.size:
        raise ParameterError(
            f"{where}: balanced weights need every class among the tuning samples; classes "
            f"{missing.tolist()} have none"
        )
    return y.size / (n_classes * n_y.astype(np.float64))


def check_class_weights(w, n_classes: int, where: str) -> np.ndarray:
    """Float class weights ``[K]``: finite, >= 0, a copy in float64."""
    v = as_values(w, where, "class_weights")
    if v.shape != (n_classes,) or not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ParameterError(
            f"{where}: class_weights must be {n_classes} finite numbers >= 0, got {w!r}"
        )
    return v.astype(np.float64).copy()


def fixed_class_weights(w, where: str = "class weights(fixed)") -> FixedClassWeights:
    """Integer mantissas and shared shift of float weights ``w [K]``: the largest ``w_shift`` in
    ``0 .. 24`` with ``round(max(w) * 2**w_shift) <= 4095``, ``w_mant = round(w * 2**w_shift)``
    (half away from zero). Weights above 4095 are refused."""
    v = check_class_weights(w, np.asarray(w).size, where)
    top = float(v.max(initial=0.0))
    if round_half_away(top) > WEIGHT_MANT_MAX:
        raise ParameterError(f"{where}: a class weight above {WEIGHT_MANT_MAX} has no mantissa")
    shift = 0
    while shift < WEIGHT_SHIFT_MAX and round_half_away(top * 2 ** (shift + 1)) <= WEIGHT_MANT_MAX:
        shift += 1
    mant = np.asarray(round_half_away(v * 2.0**shift), np.int64)
    return FixedClassWeights(mant, shift)


def weight_bits(cw) -> int:
    """The bits the largest fixed-point weight adds to an error: the smallest ``b >= 0`` with
    ``max(w_mant) <= 2**(b + w_shift)`` (0 without weights). A fixed-point readout adds them to
    its ``err_shift`` so that weighted errors through ``B`` stay inside 24 bits."""
    if cw is None:
        return 0
    return max(0, (int(np.max(cw.w_mant)) - 1).bit_length() - int(cw.w_shift))


def check_fixed_class_weights(cw, n_classes: int, where: str) -> FixedClassWeights:
    """``cw`` if it is a :class:`FixedClassWeights` of ``K`` mantissas in ``0 .. 4095`` and a
    shift in ``0 .. 24``, else a :class:`ParameterError`."""
    if not isinstance(cw, FixedClassWeights):
        raise ParameterError(f"{where}: fixed-point class weights must be FixedClassWeights")
    m = np.asarray(cw.w_mant)
    if (m.shape != (n_classes,) or not np.issubdtype(m.dtype, np.integer) or m.min() < 0
            or m.max() > WEIGHT_MANT_MAX):  # fmt: skip
        raise ParameterError(
            f"{where}: w_mant must be {n_classes} integers in [0, {WEIGHT_MANT_MAX}]"
        )
    s = cw.w_shift
    if isinstance(s, bool) or not isinstance(s, numbers.Integral) or not 0 <= s <= WEIGHT_SHIFT_MAX:
        raise ParameterError(f"{where}: w_shift must be an int in [0, {WEIGHT_SHIFT_MAX}]")
    return cw
