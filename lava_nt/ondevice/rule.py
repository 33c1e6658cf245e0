"""What an on-device tuning run learns and how: :class:`OnDeviceRule` and its feedback matrices.

The rule itself (eligibility, output error, feedback, update; float and integer) is
:mod:`lava_nt.spec.learning`. This module gathers one run's settings, validates them against a
:class:`~lava_nt.network.NetworkSpec` and builds the fixed feedback matrices ``B_l [n_l, n_out]``
that carry the output error to each tuned layer (:mod:`lava_nt.ondevice.feedback`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from lava_nt.network import NetworkSpec
from lava_nt.ondevice.feedback import (  # noqa: F401 (re-exported: the rule's public names)
    FEEDBACK_KINDS,
    _check_feedback,
    derived_feedback,
    feedback_matrices,
    fixed_feedback,
    identity_feedback,
    layer_counts,
)
from lava_nt.ondevice.readout import measure_readout_targets, output_targets
from lava_nt.spec.error_gate import (
    FixedClassWeights,
    check_class_weights,
    check_error_gate,
    check_fixed_class_weights,
    fixed_class_weights,
    weight_bits,
)
from lava_nt.spec.fixed import (
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    BIAS_MANT_MIN,
    dense_effective_weights,
)
from lava_nt.spec.learning import (
    ETA_MANT_MAX,
    ETA_SHIFT_MAX,
    LEARN_KINDS,
    UPDATE_SHIFT_MAX,
    FixedLearningParameters,
    FixedRate,
    LearningParameters,
    Rate,
    Targets,
    check_readout_reduction,
    fixed_learning_parameters,
    fixed_rate,
    learning_parameters,
    rate,
    readout_error_bound,
    readout_error_shift,
)
from lava_nt.spec.quantization import round_half_away
from lava_nt.spec.validation import ParameterError, check_shape


@dataclass
class OnDeviceRule:
    """The settings of one on-device tuning run.

    Attributes:
        T: steps of a sample (the eligibility and error window).
        layers: indices (0-based) of the tuned layers, ascending.
        params: one :class:`~lava_nt.spec.learning.LearningParameters` (float) or
            :class:`~lava_nt.spec.learning.FixedLearningParameters` per tuned layer.
        feedback: one matrix ``[n_l, n_out]`` per tuned layer: float64 ``B`` (float) or integer
            mantissas (fixed point; the Dense's effective weights are applied when it runs).
        feedback_exp: fixed point: the Dense exponent of each feedback matrix (0 in float).
        targets: the output :class:`~lava_nt.spec.learning.Targets` (counts over ``T``).
        learn: what learns in the tuned layers, a tuple of ``"bias"``, ``"gain"``,
            ``"sb_weight"`` (:data:`~lava_nt.spec.learning.LEARN_KINDS`; default the biases
            only). The eligibility band of ``params`` serves every kind.
        gain_params: with ``"gain"``: one :class:`~lava_nt.spec.learning.Rate` (float) or
            :class:`~lava_nt.spec.learning.FixedRate` per tuned layer (one per neuron or one).
        sb_params: with ``"sb_weight"``: per tuned layer a ``Rate``/``FixedRate`` of its
            spiking bias' weights (one per bias neuron or one), None for a layer without one.
        readout_rate: a network with a readout: the ``Rate`` (float) or ``FixedRate`` of its
            bias' delta rule (one per unit or one; rate 0 keeps it); ``targets`` are then the
            readout value targets (:func:`~lava_nt.spec.learning.readout_targets`).
        error_shift: fixed point with a readout: ``err_shift`` of its error (0 otherwise;
            :func:`~lava_nt.spec.learning.readout_error_shift`).
        error_gate: ``"always"`` (default) or ``"misclassified"`` (a sample pushes only while
            its counts predict another class; :mod:`lava_nt.spec.error_gate`).
        class_weights: None (all 1), float64 ``[K]`` weights of each class's error (float), or
            :class:`~lava_nt.spec.error_gate.FixedClassWeights` (fixed point; a readout's
            ``error_shift`` then grows by :func:`~lava_nt.spec.error_gate.weight_bits`).
    """

    T: int
    layers: tuple
    params: list
    feedback: list
    feedback_exp: list
    targets: Targets
    learn: tuple = ("bias",)
    gain_params: list = field(default_factory=list)
    sb_params: list = field(default_factory=list)
    readout_rate: object = None
    error_shift: int = 0
    error_gate: str = "always"
    class_weights: object = None

    def learns(self, kind: str) -> bool:
        """True if ``kind`` (``"bias"``, ``"gain"`` or ``"sb_weight"``) learns."""
        return kind in self.learn

    def effective_feedback(self, fixed: bool) -> list:
        """The matrices the feedback Denses apply (fixed: Lava's effective 8-bit weights)."""
        if not fixed:
            return [np.asarray(b, np.float64) for b in self.feedback]
        return [dense_effective_weights(np.asarray(b)) for b in self.feedback]


def check_rule(spec: NetworkSpec, rule: OnDeviceRule, where: str = "on-device") -> None:
    """Raise :class:`ParameterError` unless ``rule`` fits ``spec`` (networks of NTLIF layers
    with a population-coded spiking output or a readout read as 'last' or 'max'; spiking
    biases and synaptic delays allowed)."""
    if not isinstance(spec, NetworkSpec):
        raise ParameterError(f"{where}: spec must be a NetworkSpec, got {type(spec).__name__}")
    if spec.readout is not None:
        check_readout_reduction(spec.readout.reduce, where)
        want = FixedRate if spec.fixed else Rate
        if not isinstance(rule.readout_rate, want):
            raise ParameterError(f"{where}: a readout needs 'readout_rate', a {want.__name__}")
        check_shape(np.asarray(rule.readout_rate.eta_mant if spec.fixed else rule.readout_rate.eta),
                    where, "readout rate", spec.readout.n)  # fmt: skip
    elif rule.readout_rate is not None:
        raise ParameterError(f"{where}: 'readout_rate' given, but the network has no readout")
    _check_error_shift(spec, rule, where)
    _check_gate(spec, rule, where)
    n_out = spec.n_out
    if n_out % rule.targets.n_classes:
        raise ParameterError(
            f"{where}: {n_out} output neurons do not split into {rule.targets.n_classes} classes"
        )
    if not rule.layers:
        raise ParameterError(f"{where}: no layer to tune")
    if list(rule.layers) != sorted(set(rule.layers)):
        raise ParameterError(f"{where}: tuned layers must be distinct and ascending")
    for name in ("params", "feedback", "feedback_exp"):
        if len(getattr(rule, name)) != len(rule.layers):
            raise ParameterError(f"{where}: '{name}' needs one entry per tuned layer")
    want = FixedLearningParameters if spec.fixed else LearningParameters
    for i, k in enumerate(rule.layers):
        if not 0 <= k < len(spec.layers):
            raise ParameterError(f"{where}: layer {k} does not exist ({len(spec.layers)} layers)")
        if not isinstance(rule.params[i], want):
            raise ParameterError(f"{where}: layer {k}: parameters must be {want.__name__}")
        _check_feedback(rule.feedback[i], rule.feedback_exp[i], spec.layers[k].n, n_out,
                        spec.fixed, f"{where}: layer {k} feedback")  # fmt: skip
    _check_kinds(spec, rule, where)


def _check_gate(spec: NetworkSpec, rule: OnDeviceRule, where: str) -> None:
    """The error gate is known; class weights fit the classes and the precision."""
    check_error_gate(rule.error_gate, where)
    cw, K = rule.class_weights, rule.targets.n_classes
    if cw is not None:
        if spec.fixed:
            check_fixed_class_weights(cw, K, where)
        else:
            check_class_weights(cw, K, where)


def _check_error_shift(spec: NetworkSpec, rule: OnDeviceRule, where: str) -> None:
    """A fixed-point readout's error shift keeps every ``l`` inside 24 bits; 0 elsewhere."""
    s = rule.error_shift
    if isinstance(s, bool) or not isinstance(s, int | np.integer) or not 0 <= s <= 24:
        raise ParameterError(f"{where}: 'error_shift' must be an int in [0, 24], got {s!r}")
    if not (spec.fixed and spec.readout is not None):
        if s:
            raise ParameterError(f"{where}: 'error_shift' is for a fixed-point readout only")
        return
    wb = weight_bits(rule.class_weights)  # weighted errors: the bound of a shift wb smaller
    for k, B, e in zip(rule.layers, rule.effective_feedback(True), rule.feedback_exp,
                       strict=False):  # fmt: skip
        if readout_error_bound(B, e, max(0, s - wb)) >= 1 << 23:
            raise ParameterError(
                f"{where}: layer {k}: readout errors through B can exceed 24 bits with "
                f"error_shift {s} (readout_error_shift gives the smallest safe shift)"
            )


def _check_kinds(spec: NetworkSpec, rule: OnDeviceRule, where: str) -> None:
    """``rule.learn`` and the rates of the gain and spiking-bias weight updates."""
    kinds = tuple(rule.learn) if isinstance(rule.learn, list | tuple) else (rule.learn,)
    bad = [k for k in kinds if k not in LEARN_KINDS]
    if bad or not kinds or len(set(kinds)) != len(kinds):
        raise ParameterError(
            f"{where}: 'learn' must name distinct kinds of {LEARN_KINDS}, got {rule.learn!r}"
        )
    want = FixedRate if spec.fixed else Rate
    for kind, name in (("gain", "gain_params"), ("sb_weight", "sb_params")):
        if kind not in kinds:
            continue
        rates = getattr(rule, name)
        if len(rates) != len(rule.layers):
            raise ParameterError(f"{where}: '{name}' needs one entry per tuned layer")
        for k, r in zip(rule.layers, rates, strict=True):
            sb = spec.layers[k].spiking_bias
            if kind == "sb_weight" and sb is None:
                if r is not None:
                    raise ParameterError(f"{where}: layer {k} has no spiking bias to tune")
                continue
            if not isinstance(r, want):
                raise ParameterError(f"{where}: layer {k}: {kind} rate must be {want.__name__}")
    if "sb_weight" in kinds and all(spec.layers[k].spiking_bias is None for k in rule.layers):
        raise ParameterError(f"{where}: 'sb_weight' learns, but no tuned layer has a spiking bias")


def make_rule(
    spec: NetworkSpec,
    T: int,
    n_classes: int,
    *,
    layers=None,
    eta=3e-4,
    band=0.5,
    eta_mant=None,
    eta_shift=0,
    feedback="identity",
    x_feedback=None,
    rates=(0.5, 0.0),
    readout_targets=None,
    eta_readout=0.0,
    eta_readout_mant=0,
    eta_readout_shift=0,
    learn=("bias",),
    eta_gain=1e-5,
    eta_gain_mant=None,
    eta_gain_shift=0,
    eta_sb=3e-4,
    eta_sb_mant=None,
    eta_sb_shift=0,
    error_gate="always",
    class_weights=None,
) -> OnDeviceRule:
    """A validated :class:`OnDeviceRule` for ``spec``.

    Args:
        spec: the network (float or fixed point).
        T: steps per sample.
        n_classes: classes of the output population code.
        layers: tuned layer indices (default: every layer).
        eta: float learning rate (scalar, or one value or array per tuned layer).
        band: eligible strip below threshold as a fraction of the layer's threshold (> 0; in
            fixed point ``round(band * (vth << 6))`` voltage units, at least 1).
        eta_mant, eta_shift: fixed point: the rate mantissa (default 1) and the shift, each
            one value for all tuned layers or a list with one per tuned layer
            (:func:`fixed_rates` converts a float ``eta``).
        feedback: "identity", "derived" (needs ``x_feedback``) or a list of matrices (float
            ``B``, or in fixed point ``(B_mant, B_exp)`` pairs).
        x_feedback: input ``[T, N, n_in]`` whose spike counts derive ``M``.
        rates: target rates ``(r_on, r_off)`` (a spiking output).
        readout_targets: a network with a readout: its value targets ``(on, off)`` (required;
            :func:`measure_readout_targets` measures them).
        eta_readout, eta_readout_mant, eta_readout_shift: the rate of the readout bias' delta
            rule (float; fixed point mantissa and shift ``0 .. 48``); 0 keeps the readout bias.
            Fixed point with ``eta_readout_mant=None``: the float ``eta_readout`` converted by
            :func:`fixed_readout_rate` with the rule's ``error_shift``.
        learn: what learns (``"bias"``, ``"gain"``, ``"sb_weight"``; one or more). Without
            ``"bias"`` the bias rate is 0 (the band still sets the eligibility).
        eta_gain, eta_sb: float rates of the gain and spiking-bias weight updates (scalar, or
            one value or array per tuned layer).
        eta_gain_mant, eta_gain_shift, eta_sb_mant, eta_sb_shift: fixed point: their integer
            rates (mantissa default 1, shift in ``0 .. 48``; per layer as ``eta_mant``;
            :func:`fixed_update_rates` converts float rates).
        error_gate: ``"always"`` or ``"misclassified"`` (:mod:`lava_nt.spec.error_gate`).
        class_weights: None, float weights ``[n_classes]`` (converted to mantissas and a shift
            in fixed point, :func:`~lava_nt.spec.error_gate.fixed_class_weights`), or
            ``FixedClassWeights`` (fixed point);
            :func:`~lava_nt.spec.error_gate.balanced_class_weights` derives balanced ones.
    """
    D = len(spec.layers)
    layers = tuple(range(D)) if layers is None else tuple(int(k) for k in layers)
    for k in layers:
        if not 0 <= k < D:
            raise ParameterError(f"make_rule: layer {k} does not exist ({D} layers)")
    convert = spec.fixed and spec.readout is not None and eta_readout_mant is None
    ro_mant = 0 if convert else eta_readout_mant  # converted below, with the error shift
    tg, ro_rate = output_targets(spec, T, n_classes, rates, readout_targets, eta_readout,
                                  ro_mant, eta_readout_shift)  # fmt: skip
    if isinstance(feedback, str):
        mats = feedback_matrices(spec, layers, feedback, x_feedback)
        pairs = [fixed_feedback(B) if spec.fixed else (B, 0) for B in mats]
    else:
        pairs = [fb if spec.fixed else (fb, 0) for fb in feedback]
        if len(pairs) != len(layers):
            raise ParameterError("make_rule: one feedback matrix per tuned layer")
    params = []
    for i, k in enumerate(layers):
        n = spec.layers[k].n
        where = f"make_rule: layer {k}"
        if not isinstance(band, int | float) or not band > 0:
            raise ParameterError(f"{where}: band must be a number > 0 (fraction of vth)")
        vth = spec.layers[k].neuron.vth
        if spec.fixed:
            mant = 1 if eta_mant is None else _per_layer(eta_mant, i, len(layers))
            b = max(1, int(round_half_away(band * (int(vth) << 6))))
            shift = _per_layer(eta_shift, i, len(layers))
            params.append(fixed_learning_parameters(n, mant, shift, b, where))
        else:
            params.append(learning_parameters(n, _per_layer(eta, i, len(layers)),
                                              band * float(vth), where))  # fmt: skip
    kinds = (learn,) if isinstance(learn, str) else tuple(learn)
    if "bias" not in kinds:  # frozen biases: rate 0, the band still counts eligibility
        params = [p._replace(eta_mant=0) if spec.fixed else p._replace(eta=0.0) for p in params]
    gain = _rates(spec, layers, "gain" in kinds, False, eta_gain, eta_gain_mant, eta_gain_shift)
    sbw = _rates(spec, layers, "sb_weight" in kinds, True, eta_sb, eta_sb_mant, eta_sb_shift)
    rule = OnDeviceRule(int(T), layers, params, [p[0] for p in pairs], [p[1] for p in pairs], tg,
                        kinds, gain, sbw, ro_rate)  # fmt: skip
    rule.error_gate = check_error_gate(error_gate, "make_rule")
    if class_weights is not None:
        rule.class_weights = (
            class_weights
            if isinstance(class_weights, FixedClassWeights)
            else fixed_class_weights(class_weights, "make_rule")
            if spec.fixed
            else check_class_weights(class_weights, n_classes, "make_rule")
        )
    if spec.fixed and spec.readout is not None:
        rule.error_shift = min(24, weight_bits(rule.class_weights) + readout_error_shift(
            rule.effective_feedback(True), rule.feedback_exp))  # fmt: skip
        if convert:  # the conversion needs the error shift
            mant, shift = fixed_readout_rate(eta_readout, spec, rule.error_shift)
            rule.readout_rate = fixed_rate(spec.readout.n, mant, shift, "make_rule: readout rate")
    check_rule(spec, rule, "make_rule")
    return rule


def fixed_readout_rate(eta: float, fixed: NetworkSpec, error_shift: int = 0) -> tuple:
    """``(eta_mant [n], eta_shift)`` of the fixed-point readout bias update equivalent to a float
    rate ``eta``: the value and the error share the readout's voltage scale, so a float step
    ``eta * e`` is ``eta * e_fixed / 2**bias_exp_j`` mantissa steps, ``q_j = eta /
    2**bias_exp_j``, times ``2**error_shift`` (the fixed error is divided by it; pass the rule's,
    :func:`~lava_nt.spec.learning.readout_error_shift`); mantissa and shift as
    :func:`fixed_rates` (shift up to 48)."""
    if not fixed.fixed or fixed.readout is None:
        raise ParameterError("fixed_readout_rate: needs a fixed-point spec with a readout")
    if not np.isfinite(eta) or eta < 0:
        raise ParameterError(f"fixed_readout_rate: eta must be finite and >= 0, got {eta!r}")
    ro = fixed.readout
    q = eta * 2.0**error_shift / 2.0 ** np.broadcast_to(np.asarray(ro.params.bias_exp), (ro.n,))
    return _mantissa_shift(q, UPDATE_SHIFT_MAX)


def _rates(spec, layers, on: bool, sb: bool, eta, mant, shift) -> list:
    """Per tuned layer the validated gain (``sb`` False) or spiking-bias weight rates."""
    if not on:
        return []
    out = []
    for i, k in enumerate(layers):
        layer = spec.layers[k]
        what = "spiking-bias weight" if sb else "gain"
        where = f"make_rule: layer {k} {what} rate"
        if sb and layer.spiking_bias is None:
            out.append(None)
            continue
        n = layer.spiking_bias.m if sb else layer.n
        if spec.fixed:
            m = 1 if mant is None else _per_layer(mant, i, len(layers))
            r = fixed_rate(n, m, _per_layer(shift, i, len(layers)), where)
            out.append(r._replace(eta_mant=np.broadcast_to(r.eta_mant, (n,)).astype(np.int64)))
        else:
            r = rate(n, _per_layer(eta, i, len(layers)), where)
            out.append(r._replace(eta=np.broadcast_to(r.eta, (n,)).astype(np.float64)))
    return out  # one rate per (bias) neuron


def _per_layer(value, i: int, n_layers: int):
    """``value`` for the ``i``-th tuned layer: a scalar/array for all, or a list with one each."""
    if isinstance(value, list | tuple):
        if len(value) != n_layers:
            raise ParameterError(f"make_rule: give one value per tuned layer ({n_layers})")
        return value[i]
    return value


def fixed_rates(eta: float, fixed: NetworkSpec, float_spec: NetworkSpec, layers) -> tuple:
    """``(eta_mant, eta_shift)`` lists (one per tuned layer) equivalent to a float rate ``eta``.

    A float bias step ``eta * l * elig`` is ``eta * l * elig * S`` Loihi voltage units, ``S =
    (vth_reg << 6) / vth`` the layer's scale (the quantiser's, read off the thresholds), i.e.
    ``q_i = eta * S / 2**bias_exp_i`` mantissa steps; the rate is ``eta_mant_i = round(q_i *
    2**shift)`` with the largest ``shift`` in ``0 .. 24`` that keeps every ``eta_mant_i`` within
    12 bits (a rate below ``2**-24`` mantissa steps rounds to 0).
    """
    return _converted_rates("fixed_rates", eta, "bias", fixed, float_spec, layers)


def _mantissa_shift(q, shift_max: int) -> tuple[np.ndarray, int]:
    """``(mant, shift)``: ``round(q * 2**shift)`` with the largest ``shift <= shift_max`` that
    keeps every mantissa within 12 bits."""
    shift = 0
    while shift < shift_max and np.max(round_half_away(q * 2.0 ** (shift + 1))) <= ETA_MANT_MAX:
        shift += 1
    return np.clip(round_half_away(q * 2.0**shift), 0, ETA_MANT_MAX).astype(np.int64), shift


def fixed_update_rates(eta: float, kind: str, fixed: NetworkSpec, float_spec: NetworkSpec,
                       layers) -> tuple:  # fmt: skip
    """``(eta_mant, eta_shift)`` lists (one per tuned layer) of the fixed-point gain (``kind``
    ``"gain"``) or spiking-bias weight (``"sb_weight"``) update equivalent to a float ``eta``.

    With ``S = (vth_reg << 6) / vth`` the layer's scale: a gain step ``eta * l * elig_g`` is
    ``256 * eta * l * elig_g`` gain LSBs, and the fixed ``elig_g`` (in units of ``x / 256``) is
    ``S / 256`` times the float one, so the rate is ``q = eta * 2**16 / S``; a weight step ``eta *
    Q`` is ``eta * Q * S / 2**w_b_exp_j`` mantissa LSBs with the same ``Q`` (the trace's ``2**8``
    is shifted out), so ``q_j = eta * S / 2**w_b_exp_j``. Mantissa and shift as
    :func:`fixed_rates` (shift up to 48). A layer without a spiking bias gets ``(None, 0)``.
    """
    if kind not in ("gain", "sb_weight"):
        raise ParameterError(
            f"fixed_update_rates: kind must be 'gain' or 'sb_weight', got {kind!r}"
        )
    return _converted_rates("fixed_update_rates", eta, kind, fixed, float_spec, layers)


def _converted_rates(where: str, eta: float, kind: str, fixed: NetworkSpec,
                     float_spec: NetworkSpec, layers) -> tuple:  # fmt: skip
    """:func:`fixed_rates` (``kind="bias"``) and :func:`fixed_update_rates`: per layer the
    mantissa steps ``q`` of one float step, as mantissa and shift (:func:`_mantissa_shift`)."""
    if not fixed.fixed or float_spec.fixed or len(fixed.layers) != len(float_spec.layers):
        raise ParameterError(f"{where}: needs the fixed spec and the float spec it came from")
    if not np.isfinite(eta) or eta < 0:
        raise ParameterError(f"{where}: eta must be finite and >= 0, got {eta!r}")
    mants, shifts = [], []
    for k in layers:
        layer, sb = fixed.layers[k], fixed.layers[k].spiking_bias
        scale = (int(layer.neuron.vth) << 6) / float(float_spec.layers[k].neuron.vth)
        if kind == "bias":
            q = eta * scale / 2.0 ** np.broadcast_to(np.asarray(layer.neuron.bias_exp), (layer.n,))
        elif kind == "gain":
            q = np.full(layer.n, eta * 2.0**16 / scale)
        elif sb is None:
            mants.append(None)
            shifts.append(0)
            continue
        else:
            q = eta * scale / 2.0 ** np.broadcast_to(np.asarray(sb.params.w_b_exp), (sb.m,))
        mant, shift = _mantissa_shift(q, ETA_SHIFT_MAX if kind == "bias" else UPDATE_SHIFT_MAX)
        mants.append(mant)
        shifts.append(shift)
    return mants, shifts


def bias_headroom(spec: NetworkSpec, layers, vth_fraction: float = 1.0) -> NetworkSpec:
    """A copy of the fixed-point ``spec`` whose tuned ``layers`` can hold biases up to
    ``vth_fraction`` of the threshold.

    The quantiser gives each bias the smallest exponent that holds it, so a tuned bias that grows
    saturates its 13-bit mantissa at once. Here every neuron of a tuned layer gets the layer's
    exponent ``e`` = the smallest in ``0 .. 7`` with ``4095 << e >= max(vth_fraction * (vth <<
    6), max |bias|)`` (7 if none), and its value ``bias_mant << bias_exp`` is re-expressed as
    ``round(value / 2**e) << e`` (round half away from zero; an error below ``2**(e-1)`` voltage
    units). ``vth_fraction = 0`` keeps only what the biases need now.
    """
    out = _fixed_copy(spec, vth_fraction, "bias_headroom")
    for k in layers:
        layer = out.layers[k]
        p = layer.neuron
        mant, exp = _room(p.bias_mant, p.bias_exp, layer.n, vth_fraction * (int(p.vth) << 6))
        layer.neuron = p._replace(bias_mant=mant, bias_exp=exp)
    return out


def _fixed_copy(spec: NetworkSpec, vth_fraction: float, where: str) -> NetworkSpec:
    """A deep copy of the fixed-point ``spec``, after checking it and ``vth_fraction >= 0``."""
    if not spec.fixed:
        raise ParameterError(f"{where}: needs a fixed-point spec")
    if not np.isfinite(vth_fraction) or vth_fraction < 0:
        raise ParameterError(f"{where}: vth_fraction must be >= 0, got {vth_fraction!r}")
    return copy.deepcopy(spec)


def _room(mant, exp, n: int, need: float) -> tuple[np.ndarray, np.ndarray]:
    """``(mant, exp)`` of ``n`` values ``mant << exp`` re-expressed with one exponent, the
    smallest in ``0 .. 7`` with ``4095 << e >= max(need, max |value|)`` (7 if none); the 13-bit
    bias and bias-weight mantissas have the same range."""
    value = np.broadcast_to(np.asarray(mant, np.int64) << np.asarray(exp, np.int64), (n,))
    need = max(need, float(np.abs(value).max(initial=0)))
    e = next((e for e in range(BIAS_EXP_MAX + 1) if BIAS_MANT_MAX << e >= need), BIAS_EXP_MAX)
    m = np.clip(round_half_away(value / 2.0**e), BIAS_MANT_MIN, BIAS_MANT_MAX)
    return m.astype(np.int64), np.full(n, e, np.int64)


def sb_weight_headroom(spec: NetworkSpec, layers, vth_fraction: float = 1.0) -> NetworkSpec:
    """A copy of the fixed-point ``spec`` whose tuned ``layers``' spiking biases can hold
    weights up to ``vth_fraction`` of the target layer's threshold (``vth << 6``) per spike.

    As :func:`bias_headroom` for the weights ``w_b_mant << w_b_exp`` (13-bit mantissa, 3-bit
    exponent, the same range): every bias neuron of the population gets the exponent ``e`` = the
    smallest in ``0 .. 7`` with ``4095 << e >= max(vth_fraction * (vth << 6), max |w|)``, and
    each weight is re-expressed as ``round(w / 2**e) << e``. A weight that starts at 0 (a spiking
    bias added for tuning) could otherwise only reach 4095 voltage units. Layers without a
    spiking bias are left as they are.
    """
    out = _fixed_copy(spec, vth_fraction, "sb_weight_headroom")
    for k in layers:
        layer = out.layers[k]
        sb = layer.spiking_bias
        if sb is None:
            continue
        p = sb.params
        need = vth_fraction * (int(layer.neuron.vth) << 6)
        mant, exp = _room(p.w_b_mant, p.w_b_exp, sb.m, need)
        sb.params = p._replace(w_b_mant=mant, w_b_exp=exp)
    return out


def readout_headroom(spec: NetworkSpec, targets, fraction: float = 1.0) -> NetworkSpec:
    """A copy of the fixed-point ``spec`` whose readout bias can hold values up to ``fraction``
    of the larger readout target, ``fraction * max(|on|, |off|)`` voltage units.

    As :func:`bias_headroom` for the readout's ``bias_mant << bias_exp`` (13-bit mantissa, 3-bit
    exponent): every unit gets the exponent ``e`` = the smallest in ``0 .. 7`` with ``4095 << e
    >= max(fraction * max(|on|, |off|), max |bias|)`` (7 if none), and each bias is re-expressed
    as ``round(value / 2**e) << e`` (an error below ``2**(e-1)`` voltage units). The targets set
    the scale because the delta rule moves a value towards its target through the bias alone
    (for netx's readout, ``v = u + b``, a bias of a target's size reaches that target with no
    input); the quantiser's smallest exponent would stop the bias at ``4095 << bias_exp``.
    ``fraction = 0`` keeps only what the biases need now.
    """
    if not spec.fixed or spec.readout is None:
        raise ParameterError("readout_headroom: needs a fixed-point spec with a readout")
    if not np.isfinite(fraction) or fraction < 0:
        raise ParameterError(f"readout_headroom: fraction must be >= 0, got {fraction!r}")
    try:
        tg = np.asarray(targets, np.float64).reshape(-1)
    except (TypeError, ValueError):
        tg = np.zeros(0)
    if tg.size != 2 or not np.all(np.isfinite(tg)):
        raise ParameterError(f"readout_headroom: targets must be two numbers (on, off), got "
                             f"{targets!r}")  # fmt: skip
    out = copy.deepcopy(spec)
    ro = out.readout
    p = ro.params
    need = fraction * float(np.abs(tg).max())
    mant, exp = _room(p.bias_mant, p.bias_exp, ro.n, need)
    ro.params = p._replace(bias_mant=mant, bias_exp=exp)
    return out


def readout_setup(spec: NetworkSpec, x_tune, y_tune, targets=None,
                  headroom: float = 1.0) -> tuple:  # fmt: skip
    """``(spec, (on, off))``: a readout network prepared for tuning, the same way by every entry
    point (``lava-nt ondevice``, :func:`~lava_nt.ondevice.select.tune_on_device`, the
    comparison study): the value targets ``targets``, or measured on the tuning data ``x_tune
    [T, N, n_in]``, ``y_tune [N]`` with the untuned network (:func:`measure_readout_targets`);
    in fixed point the readout bias then gets :func:`readout_headroom` (``headroom`` of the
    larger target; None: none). A network without a readout comes back as it is, with None."""
    if spec.readout is None:
        return spec, None
    tg = tuple(measure_readout_targets(spec, x_tune, y_tune) if targets is None else targets)
    if spec.fixed and headroom is not None:
        spec = readout_headroom(spec, tg, headroom)
    return spec, tg
