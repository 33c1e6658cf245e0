"""Lava Processes of on-device tuning (Vars and Ports only; the rule is
:mod:`lava_nt.spec.learning`, the models are in :mod:`lava_nt.processes.ondevice.models`).

:class:`LearningNTLIF` is an :class:`~lava_nt.processes.ntlif.process.NTLIF` layer that also
counts its eligibility over the first ``learn_steps`` steps after each per-sample reset and
changes its biases by the error ``l`` arriving on ``err_in`` (a graded input, normally from a
``Dense`` holding the feedback matrix ``B``): float ``bias += eta * l * elig``, fixed point
``bias_mant = clip(bias_mant + rshift_round(eta_mant * l * elig, eta_shift))``. A step with
``l = 0`` changes nothing, so the layer learns exactly when an error arrives. The eligibility
counter restarts with ``u`` and ``v`` at the reset.

:class:`OutputError` watches the output layer: it counts each output neuron's spikes over the
``steps`` steps of a window that starts at ``first_step`` and repeats every ``window`` steps, and
on the last of them sends ``learn[b] * (target(labels[b]) - count)`` on ``e_out`` (zeros on every
other step). ``labels`` and ``learn`` hold one entry per sample ``b`` of the run.
"""

from __future__ import annotations

import numbers

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from lava_nt.processes.ntlif.process import NTLIF, layer_size
from lava_nt.spec.learning import fixed_learning_parameters, learning_parameters
from lava_nt.spec.validation import ParameterError, check_choice

LEARNING_FLOAT = ("eta", "band")
LEARNING_FIXED = ("eta_mant", "eta_shift", "band")


def _positive_int(x, where: str, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or int(x) < 1:
        raise ParameterError(f"{where}: '{name}' must be an int >= 1, got {x!r}")
    return int(x)


class LearningNTLIF(NTLIF):
    """NTLIF layer with local bias learning.

    Args:
        learn_steps: steps per sample that count eligibility (``T``); the layer's
            ``reset_interval`` (the sample window) must be at least this.
        eta, band: float learning parameters (:func:`lava_nt.spec.learning.learning_parameters`).
        eta_mant, eta_shift, band: fixed-point ones
            (:func:`lava_nt.spec.learning.fixed_learning_parameters`).
        **kwargs: everything :class:`~lava_nt.processes.ntlif.process.NTLIF` takes.

    Extra port ``err_in`` (graded ``l``, shape ``(n,)``); extra Vars ``elig`` (counter),
    ``eta`` and ``band`` (float), ``eta_mant``, ``eta_shift``, ``band_fixed`` (fixed point),
    ``learn_steps``.
    """

    def __init__(self, *, shape, learn_steps: int, precision: str = "float", **kwargs) -> None:
        self._runtime = None
        where = "LearningNTLIF"
        check_choice(precision, ("float", "fixed"), where, "precision")
        n = layer_size(shape, where)
        names = LEARNING_FLOAT if precision == "float" else LEARNING_FIXED
        learn = {k: kwargs.pop(k) for k in names if k in kwargs}
        for k in LEARNING_FLOAT + LEARNING_FIXED:
            if k in kwargs:
                raise ParameterError(f"{where}: '{k}' is not a {precision} learning parameter")
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
        if precision == "float":
            lp = learning_parameters(n, where=where, **learn)
            eta = np.broadcast_to(np.asarray(lp.eta, np.float64), (n,)).copy()
            band = float(lp.band)
        else:
            lp = fixed_learning_parameters(n, where=where, **learn)
            eta_mant = np.broadcast_to(np.asarray(lp.eta_mant, np.int64), (n,)).copy()
            eta_shift, band_fixed = lp.eta_shift, lp.band
        self.learning = lp
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
    """

    def __init__(self, *, shape, labels, learn, target_on, target_off, n_classes: int,
                 steps: int, window: int, first_step: int, precision: str = "float",
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
