"""Lava Processes of on-device tuning (Vars and Ports only; the rule is
:mod:`lava_nt.spec.learning`, the models are in :mod:`lava_nt.processes.ondevice.models` and,
for :class:`LearningReadout`, :mod:`lava_nt.processes.ondevice.readout_models`).

:class:`LearningNTLIF` is an :class:`~lava_nt.processes.ntlif.process.NTLIF` layer that also
counts its eligibility over the first ``learn_steps`` steps after each per-sample reset and
changes its biases by the error ``l`` arriving on ``err_in`` (a graded input, normally from a
``Dense`` holding the feedback matrix ``B``): float ``bias += eta * l * elig``, fixed point
``bias_mant = clip(bias_mant + rshift_round(eta_mant * l * elig, eta_shift))``. A step with
``l = 0`` changes nothing, so the layer learns exactly when an error arrives. The eligibility
counter restarts with ``u`` and ``v`` at the reset. With ``learn_gain`` it also keeps the gain
eligibility and updates its gains; with ``learn_sb`` it accumulates the trace arriving on
``trace_in`` into the weight eligibility and sends ``q = l * elig_sb`` on ``sb_out`` (rules and
fixed-point details: :mod:`lava_nt.spec.learning`).

:class:`LearningSpikingBias` is a :class:`~lava_nt.processes.spiking_bias.process.SpikingBias`
whose weights learn: it keeps the pre trace of its spikes, sends it fanned out to the target
neurons on ``trace_out`` (connected straight to the target's ``trace_in``, beside ``c_out ->
c_in``: no delay, so the target sees the trace of the same step as the current) and receives
``q`` on ``q_in`` (from the target's ``sb_out``, same step), sums it over each bias neuron's
group and updates ``w_b`` (float) or ``w_b_mant`` (fixed). It sends before it receives, so the
two-way direct link cannot deadlock.

:class:`OutputError` watches the output layer: it counts each output neuron's spikes over the
``steps`` steps of a window that starts at ``first_step`` and repeats every ``window`` steps, and
on the last of them sends ``learn[b] * (target(labels[b]) - count)`` on ``e_out`` (zeros on every
other step). ``labels`` and ``learn`` hold one entry per sample ``b`` of the run.

:class:`LearningReadout` is a :class:`~lava_nt.processes.readout.process.Readout` that is its
network's output error too: over the first ``learn_steps`` steps after each per-sample reset it
keeps the window's value (the last voltage, or the running maximum for ``reduce="max"``), and on
the last of them sends ``e = learn[b] * (target(labels[b]) - value)`` (fixed point: divided by
``2**error_shift``, 24-bit saturated) on ``e_out`` and changes its own bias by the delta rule
(float ``bias += eta * e``, fixed ``bias_mant = clip(bias_mant + rshift_round(eta_mant * e,
eta_shift))``); zeros on every other step (:mod:`lava_nt.spec.learning`, "Readout output").
"""

from __future__ import annotations

import numbers

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from lava_nt.processes.ntlif.process import NTLIF, layer_size
from lava_nt.processes.readout.process import Readout
from lava_nt.processes.spiking_bias.process import SpikingBias
from lava_nt.spec.error_gate import (
    check_class_weights,
    check_error_gate,
    check_fixed_class_weights,
)
from lava_nt.spec.learning import (
    check_readout_reduction,
    fixed_learning_parameters,
    fixed_rate,
    learning_parameters,
    rate,
    readout_targets,
)
from lava_nt.spec.validation import ParameterError, check_choice

LEARNING_FLOAT = ("eta", "band", "eta_gain")
LEARNING_FIXED = ("eta_mant", "eta_shift", "band", "eta_gain_mant", "eta_gain_shift")
SB_LEARNING_FLOAT = ("eta_w",)
SB_LEARNING_FIXED = ("eta_w_mant", "eta_w_shift")


def _positive_int(x, where: str, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or int(x) < 1:
        raise ParameterError(f"{where}: '{name}' must be an int >= 1, got {x!r}")
    return int(x)


def _learning_keywords(kwargs: dict, shape, precision: str, float_names: tuple[str, ...],
                       fixed_names: tuple[str, ...], where: str) -> tuple[int, dict]:  # fmt: skip
    """``(size, the precision's learning keywords)``, taken out of ``kwargs`` (the rest goes to
    the inference Process); a learning keyword of the other precision is an error."""
    check_choice(precision, ("float", "fixed"), where, "precision")
    n = layer_size(shape, where)
    names = float_names if precision == "float" else fixed_names
    learn = {k: kwargs.pop(k) for k in names if k in kwargs}
    for k in float_names + fixed_names:
        if k in kwargs:
            raise ParameterError(f"{where}: '{k}' is not a {precision} learning parameter")
    return n, learn


class LearningNTLIF(NTLIF):
    """NTLIF layer with local bias learning.

    Args:
        learn_steps: steps per sample that count eligibility (``T``); the layer's
            ``reset_interval`` (the sample window) must be at least this.
        eta, band: float learning parameters (:func:`lava_nt.spec.learning.learning_parameters`).
        eta_mant, eta_shift, band: fixed-point ones
            (:func:`lava_nt.spec.learning.fixed_learning_parameters`).
        learn_gain: the gains learn, at ``eta_gain`` (float) or ``eta_gain_mant`` /
            ``eta_gain_shift`` (fixed; :func:`lava_nt.spec.learning.rate` / ``fixed_rate``).
        learn_sb: keep the spiking-bias weight eligibility and send ``q`` on ``sb_out``.
        **kwargs: everything :class:`~lava_nt.processes.ntlif.process.NTLIF` takes.

    Extra ports ``err_in`` (graded ``l``), ``trace_in`` (the spiking bias' trace) and ``sb_out``
    (``q``), all shape ``(n,)``; extra Vars ``elig`` (counter), ``elig_gain``, ``elig_sb``,
    ``eta``, ``band``, ``eta_gain`` (float), ``eta_mant``, ``eta_shift``, ``band_fixed``,
    ``eta_gain_mant``, ``eta_gain_shift`` (fixed point), ``learn_steps``, ``learn_gain``,
    ``learn_sb``.
    """

    def __init__(self, *, shape, learn_steps: int, precision: str = "float",
                 learn_gain: bool = False, learn_sb: bool = False, **kwargs) -> None:  # fmt: skip
        self._runtime = None
        where = "LearningNTLIF"
        n, learn = _learning_keywords(kwargs, shape, precision, LEARNING_FLOAT, LEARNING_FIXED,
                                      where)  # fmt: skip
        T = _positive_int(learn_steps, where, "learn_steps")
        super().__init__(shape=shape, precision=precision, **kwargs)
        interval = int(self.proc_params["reset_interval"])
        if interval < T:
            raise ParameterError(
                f"{where}: reset_interval ({interval}) must be >= learn_steps ({T})"
            )
        eta = np.zeros(n)
        band = 0.0
        eta_mant = np.zeros(n, np.int64)
        eta_shift, band_fixed = 0, 1
        eta_gain, gain_mant, gain_shift = np.zeros(n), np.zeros(n, np.int64), 0
        if precision == "float":
            g = rate(n, learn.pop("eta_gain", 0.0), f"{where} eta_gain")
            lp = learning_parameters(n, where=where, **learn)
            eta = np.broadcast_to(np.asarray(lp.eta, np.float64), (n,)).copy()
            band = float(lp.band)
            eta_gain = np.broadcast_to(np.asarray(g.eta, np.float64), (n,)).copy()
        else:
            g = fixed_rate(n, learn.pop("eta_gain_mant", 0), learn.pop("eta_gain_shift", 0),
                           f"{where} gain rate")  # fmt: skip
            lp = fixed_learning_parameters(n, where=where, **learn)
            eta_mant = np.broadcast_to(np.asarray(lp.eta_mant, np.int64), (n,)).copy()
            eta_shift, band_fixed = lp.eta_shift, lp.band
            gain_mant = np.broadcast_to(np.asarray(g.eta_mant, np.int64), (n,)).copy()
            gain_shift = g.eta_shift
        self.learning = lp
        self.gain_rate = g
        self.trace_in = InPort(shape=(n,))
        self.sb_out = OutPort(shape=(n,))
        self.elig_gain = Var(shape=(n,), init=0)
        self.elig_sb = Var(shape=(n,), init=0)
        self.eta_gain = Var(shape=(n,), init=eta_gain)
        self.eta_gain_mant = Var(shape=(n,), init=gain_mant)
        self.eta_gain_shift = Var(shape=(1,), init=gain_shift)
        self.learn_gain = Var(shape=(1,), init=int(bool(learn_gain)))
        self.learn_sb = Var(shape=(1,), init=int(bool(learn_sb)))
        self.err_in = InPort(shape=(n,))
        self.elig = Var(shape=(n,), init=0)
        self.learn_steps = Var(shape=(1,), init=T)
        self.eta = Var(shape=(n,), init=eta)
        self.band = Var(shape=(1,), init=band)
        self.eta_mant = Var(shape=(n,), init=eta_mant)
        self.eta_shift = Var(shape=(1,), init=eta_shift)
        self.band_fixed = Var(shape=(1,), init=band_fixed)


class OutputError(AbstractProcess):
    """Output error of a population code, once per sample window.

    Args:
        shape: ``(n_out,)``.
        labels: ``[S]`` class labels, one per sample of the run.
        learn: ``[S]`` flags (1: send the error, 0: send zeros).
        target_on, target_off: target counts (float, or integers in fixed point).
        n_classes: classes of the population code.
        steps: counted steps per window (``T``).
        window: steps between window starts (``>= steps``).
        first_step: Lava ``time_step`` (from 1) at which sample 0's window starts.
        precision: "float" or "fixed".
        error_gate: ``"always"`` or ``"misclassified"`` (:mod:`lava_nt.spec.error_gate`).
        class_weights: None (all 1), float ``[n_classes]`` weights (float), or
            :class:`~lava_nt.spec.error_gate.FixedClassWeights` (fixed point).

    Vars ``gate_misclassified`` (0/1), ``class_w`` (float weights), ``w_mant`` (unsigned 12-bit)
    and ``w_shift`` hold the gate and the weights.
    """

    def __init__(self, *, shape, labels, learn, target_on, target_off, n_classes: int,
                 steps: int, window: int, first_step: int, precision: str = "float",
                 error_gate: str = "always", class_weights=None,
                 name: str | None = None) -> None:  # fmt: skip
        self._runtime = None
        where = "OutputError"
        check_choice(precision, ("float", "fixed"), where, "precision")
        n = layer_size(shape, where)
        steps = _positive_int(steps, where, "steps")
        window = _positive_int(window, where, "window")
        first_step = _positive_int(first_step, where, "first_step")
        n_classes = _positive_int(n_classes, where, "n_classes")
        if window < steps or n % n_classes:
            raise ParameterError(f"{where}: need window >= steps and n_out % n_classes == 0")
        labels = np.asarray(labels, np.int64).reshape(-1)
        learn = np.asarray(learn, np.int64).reshape(-1)
        if labels.shape != learn.shape or labels.size < 1:
            raise ParameterError(f"{where}: labels and learn need one entry per sample")
        if labels.min() < 0 or labels.max() >= n_classes or np.any((learn != 0) & (learn != 1)):
            raise ParameterError(f"{where}: labels in [0, {n_classes}) and learn flags 0/1")
        super().__init__(shape=(n,), precision=precision, n_classes=n_classes, steps=steps,
                         window=window, first_step=first_step, name=name)  # fmt: skip
        self.s_in = InPort(shape=(n,))
        self.e_out = OutPort(shape=(n,))
        self.count = Var(shape=(n,), init=0)
        self.labels = Var(shape=labels.shape, init=labels)
        self.learn = Var(shape=learn.shape, init=learn)
        self.target_on = Var(shape=(1,), init=target_on)
        self.target_off = Var(shape=(1,), init=target_off)
        w, mant, shift = _class_weights(class_weights, n_classes, precision, where)
        self.gate_misclassified = Var(shape=(1,), init=int(
            check_error_gate(error_gate, where) == "misclassified"))  # fmt: skip
        self.class_w = Var(shape=(n_classes,), init=w)
        self.w_mant = Var(shape=(n_classes,), init=mant)
        self.w_shift = Var(shape=(1,), init=shift)


def _class_weights(cw, K: int, precision: str, where: str):
    """``(float weights [K], mantissas [K], shift)`` of OutputError's class weights (ones and
    shift 0 without weights; the other precision's Vars stay at their neutral value)."""
    w, mant, shift = np.ones(K), np.ones(K, np.int64), 0
    if cw is None:
        return w, mant, shift
    if precision == "fixed":
        cw = check_fixed_class_weights(cw, K, where)
        return w, np.asarray(cw.w_mant, np.int64).copy(), int(cw.w_shift)
    return check_class_weights(cw, K, where), mant, shift


class LearningSpikingBias(SpikingBias):
    """Spiking bias whose weights ``w_b`` learn (see the module docstring).

    Args:
        eta_w: float rate (>= 0; scalar or one per bias neuron), with ``precision="float"``.
        eta_w_mant, eta_w_shift: fixed-point rate (:func:`lava_nt.spec.learning.fixed_rate`).
        **kwargs: everything :class:`~lava_nt.processes.spiking_bias.process.SpikingBias` takes.

    Extra ports ``trace_out`` (``(n,)``, the trace at each target neuron) and ``q_in``
    (``(n,)``); extra Vars ``trace`` (``(m,)``), ``eta_w`` (float), ``eta_w_mant``,
    ``eta_w_shift`` (fixed point).
    """

    def __init__(self, *, shape, precision: str = "float", **kwargs) -> None:
        self._runtime = None
        where = "LearningSpikingBias"
        m, learn = _learning_keywords(kwargs, shape, precision, SB_LEARNING_FLOAT,
                                      SB_LEARNING_FIXED, where)  # fmt: skip
        if precision == "float":
            r = rate(m, learn.get("eta_w", 0.0), where)
            eta_w = np.broadcast_to(np.asarray(r.eta, np.float64), (m,)).copy()
            mant, shift = np.zeros(m, np.int64), 0
        else:
            r = fixed_rate(m, learn.get("eta_w_mant", 0), learn.get("eta_w_shift", 0), where)
            eta_w = np.zeros(m)
            mant = np.broadcast_to(np.asarray(r.eta_mant, np.int64), (m,)).copy()
            shift = r.eta_shift
        super().__init__(shape=shape, precision=precision, **kwargs)
        n = self.n_target
        self.rate = r
        self.trace_out = OutPort(shape=(n,))
        self.q_in = InPort(shape=(n,))
        self.trace = Var(shape=(m,), init=0)
        self.eta_w = Var(shape=(m,), init=eta_w)
        self.eta_w_mant = Var(shape=(m,), init=mant)
        self.eta_w_shift = Var(shape=(1,), init=shift)


class LearningReadout(Readout):
    """Readout whose window value is the output error and whose bias learns (module docstring).

    Args:
        labels, learn: ``[S]`` class labels and learning flags, one per sample of the run.
        target_on, target_off: value targets of the label's unit and of the others
            (:func:`lava_nt.spec.learning.readout_targets`; integers in fixed point).
        n_classes: classes (``n % n_classes == 0``; unit ``j`` codes class ``j // (n //
            n_classes)``).
        learn_steps: steps of a sample's window (``T``; ``reset_interval`` must be at least this).
        reduce: ``"last"`` or ``"max"``.
        error_shift: fixed point: right shift of the error (``0 .. 24``).
        error_gate, class_weights: the error gate and class weights, as :class:`OutputError`
            (Vars ``gate_misclassified``, ``class_w``, ``w_mant``, ``w_shift``).
        eta: float rate of the bias (>= 0; scalar or one per unit); ``eta_mant``, ``eta_shift``
            the fixed-point rate (:func:`lava_nt.spec.learning.fixed_rate`).
        **kwargs: everything :class:`~lava_nt.processes.readout.process.Readout` takes.

    Extra port ``e_out`` (``(n,)``); extra Vars ``value``, ``sample`` (samples done),
    ``labels``, ``learn``, ``target_on``, ``target_off``, ``n_classes``, ``learn_steps``,
    ``reduce_max``, ``eta`` (float), ``eta_mant``, ``eta_shift``, ``error_shift`` (fixed point).
    """

    def __init__(self, *, shape, labels, learn, target_on, target_off, n_classes: int,
                 learn_steps: int, reduce: str = "last", precision: str = "float", eta=0.0,
                 eta_mant=0, eta_shift=0, error_shift: int = 0, error_gate: str = "always",
                 class_weights=None, **kwargs) -> None:  # fmt: skip
        self._runtime = None
        where = "LearningReadout"
        check_choice(precision, ("float", "fixed"), where, "precision")
        n = layer_size(shape, where)
        T = _positive_int(learn_steps, where, "learn_steps")
        tg = readout_targets(target_on, target_off, n_classes, precision == "fixed", where)
        if n % tg.n_classes:
            raise ParameterError(f"{where}: {n} units do not split into {tg.n_classes} classes")
        check_readout_reduction(reduce, where)
        if isinstance(error_shift, bool) or not isinstance(error_shift, int | np.integer) or (
                not 0 <= error_shift <= 24):  # fmt: skip
            raise ParameterError(f"{where}: 'error_shift' must be an int in [0, 24]")
        labels = np.asarray(labels, np.int64).reshape(-1)
        learn = np.asarray(learn, np.int64).reshape(-1)
        if labels.shape != learn.shape or labels.size < 1:
            raise ParameterError(f"{where}: labels and learn need one entry per sample")
        if labels.min() < 0 or labels.max() >= tg.n_classes or np.any(learn * (1 - learn)):
            raise ParameterError(f"{where}: labels in [0, {tg.n_classes}) and learn flags 0/1")
        if precision == "float":
            r = rate(n, eta, where)
            eta_f = np.broadcast_to(np.asarray(r.eta, np.float64), (n,)).copy()
            mant, shift = np.zeros(n, np.int64), 0
        else:
            r = fixed_rate(n, eta_mant, eta_shift, where)
            eta_f = np.zeros(n)
            mant = np.broadcast_to(np.asarray(r.eta_mant, np.int64), (n,)).copy()
            shift = r.eta_shift
        super().__init__(shape=shape, precision=precision, **kwargs)
        if int(self.proc_params["reset_interval"]) < T:
            raise ParameterError(f"{where}: reset_interval must be >= learn_steps ({T})")
        self.rate, self.targets = r, tg
        self.e_out = OutPort(shape=(n,))
        self.value = Var(shape=(n,), init=0)
        self.sample = Var(shape=(1,), init=0)
        self.labels = Var(shape=labels.shape, init=labels)
        self.learn = Var(shape=learn.shape, init=learn)
        self.target_on = Var(shape=(1,), init=tg.on)
        self.target_off = Var(shape=(1,), init=tg.off)
        self.n_classes = Var(shape=(1,), init=tg.n_classes)
        self.learn_steps = Var(shape=(1,), init=T)
        self.reduce_max = Var(shape=(1,), init=int(reduce == "max"))
        self.eta = Var(shape=(n,), init=eta_f)
        self.eta_mant = Var(shape=(n,), init=mant)
        self.eta_shift = Var(shape=(1,), init=shift)
        self.error_shift = Var(shape=(1,), init=int(error_shift))
        w, mant, wshift = _class_weights(class_weights, tg.n_classes, precision, where)
        self.gate_misclassified = Var(shape=(1,), init=int(
            check_error_gate(error_gate, where) == "misclassified"))  # fmt: skip
        self.class_w = Var(shape=(tg.n_classes,), init=w)
        self.w_mant = Var(shape=(tg.n_classes,), init=mant)
        self.w_shift = Var(shape=(1,), init=wshift)
