"""The readout side of an on-device tuning rule: value targets, their measurement and the
feedback matrix of a network that ends in a non-spiking readout (:mod:`lava_nt.spec.readout`).

The rule's equations are :mod:`lava_nt.spec.learning` ("Readout output"); :func:`output_targets`
is what :func:`lava_nt.ondevice.rule.make_rule` uses for the targets and the readout rate, and
:func:`readout_feedback` the matrix :func:`lava_nt.ondevice.rule.feedback_matrices` gives the
last spiking layer.
"""

from __future__ import annotations

import numpy as np

from lava_nt.network import NetworkSpec, readout_values, run_reference
from lava_nt.spec.fixed import dense_effective_weights
from lava_nt.spec.learning import fixed_rate, rate, readout_targets, targets
from lava_nt.spec.quantization import round_half_away
from lava_nt.spec.validation import ParameterError

__all__ = ["measure_readout_targets", "output_targets", "readout_feedback"]


def readout_feedback(spec: NetworkSpec) -> np.ndarray:
    """``W_r^T`` ``[n_last, n_readout]``: the readout's own weights (fixed point: the Dense's
    effective weights times ``2**weight_exp``), which carry the readout error to the last spiking
    layer (the exact gradient of the values with respect to its spike counts for ``du = 0``,
    ``dv = 1`` and ``"last"``)."""
    ro = spec.readout
    if spec.fixed:
        return dense_effective_weights(np.asarray(ro.weight)).T * 2.0 ** int(ro.weight_exp)
    return np.asarray(ro.weight, np.float64).T.copy()


def output_targets(spec, T, n_classes, rates, ro_targets, eta, mant, shift) -> tuple:
    """``(targets, readout_rate)`` of make_rule: spike-count targets, or a readout's value
    targets and the rate of its bias (None without a readout)."""
    if spec.readout is None:
        return targets(T, rates, n_classes, fixed=spec.fixed, where="make_rule"), None
    where = "make_rule: readout"
    if ro_targets is None or len(tuple(ro_targets)) != 2:
        raise ParameterError(f"{where}: give readout_targets=(on, off) in readout value units "
                             "(measure_readout_targets measures them)")  # fmt: skip
    tg = readout_targets(*ro_targets, n_classes, fixed=spec.fixed, where=where)
    n = spec.readout.n
    if spec.fixed:
        return tg, fixed_rate(n, mant, shift, f"{where} rate")
    return tg, rate(n, eta, f"{where} rate")


def measure_readout_targets(spec: NetworkSpec, x, labels) -> tuple:
    """``(on, off)``: the mean readout value of the label's unit and of the other units over
    the samples ``x [T, N, n_in]`` (:func:`~lava_nt.network.run_reference`), rounded to
    integers in fixed point: targets the network already reaches on average, so the delta rule
    pulls every sample towards the typical values of a right and a wrong class."""
    if spec.readout is None:
        raise ParameterError("measure_readout_targets: the network has no readout")
    values = np.asarray(readout_values(spec, run_reference(spec, x).output), np.float64)
    y = np.asarray(labels).astype(np.int64)
    if y.shape != (values.shape[0],) or y.min() < 0 or y.max() >= spec.readout.n:
        raise ParameterError(f"measure_readout_targets: need {values.shape[0]} labels in "
                             f"[0, {spec.readout.n})")  # fmt: skip
    hit = np.arange(spec.readout.n)[None, :] == y[:, None]
    on, off = float(values[hit].mean()), float(values[~hit].mean()) if (~hit).any() else 0.0
    if spec.fixed:
        return int(round_half_away(on)), int(round_half_away(off))
    return on, off
