"""On-device tuning of a network from arrays, its rate and band chosen on a selection split.

:func:`tune_on_device` (the one used by the EEG pipeline's ``ondevice`` method and the image
example's on-device arm) runs the twin (:func:`lava_nt.ondevice.twin.run_twin`) once per point of
an ``eta x band`` grid, ``passes`` passes over the tuning samples, every point over the same
seeded presentation, and keeps the tuned network with the best score on the selection split
(ties: the earlier grid point, i.e. the smaller rate, then the narrower band). With
``keep_best_pass`` each point also keeps its best pass on the selection split (0 = the untuned
network; ties: the earlier pass). The seed fixes only the order in which the tuning samples are
presented (one permutation per pass); the rule itself has no randomness. In fixed point the
rates come from the float rates by :func:`~lava_nt.ondevice.rule.fixed_rates`, so both
precisions search the same grid.

A network that ends in a readout is prepared as ``lava-nt ondevice`` prepares it, by the same
function (:func:`~lava_nt.ondevice.rule.readout_setup`: value targets measured on the tuning
data unless given, and in fixed point the readout bias' headroom); every grid point learns its
readout bias too (the returned spec has it), and the scores are the argmax of the readout values.

``engine="lava"`` re-runs the chosen point (its passes, in the same order) as ONE Lava learning
run (:func:`lava_nt.ondevice.lava_engine.run_lava`) and returns what Lava learned; the tests
prove it equal to the twin (bit for bit in fixed point, to round-off in float64).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numpy as np

from lava_nt.decode import output_predictions
from lava_nt.network import NetworkSpec, run_reference
from lava_nt.ondevice.rule import (
    FEEDBACK_KINDS,
    feedback_matrices,
    fixed_feedback,
    fixed_rates,
    make_rule,
    readout_setup,
)
from lava_nt.ondevice.twin import run_twin, tuned_spec
from lava_nt.spec.error_gate import balanced_class_weights
from lava_nt.spec.validation import ParameterError


class OnDeviceChoice(NamedTuple):
    """What :func:`tune_on_device` returns.

    Attributes:
        spec: the tuned network (float, or fixed point with the learned ``bias_mant``).
        eta, band: the chosen grid point (float rate; band as a fraction of the threshold).
        select_acc: its accuracy on the selection split.
        grid: every grid point's ``{"eta", "band", "select_acc"}``, in grid order.
        biases: the learned biases of the tuned layers (``{layer: array}``, as the twin returns).
        passes: the passes the tuned network has seen (``keep_best_pass``: the best one; 0 =
            untuned).
        engine: what learned the returned biases: "twin" or "lava".
        readout_bias: a network with a readout: its learned bias (float ``bias`` or fixed
            ``bias_mant``; the start network's with ``passes`` 0), else None.
        readout_targets: a network with a readout: the value targets ``(on, off)`` the rule
            used, else None.
    """

    spec: NetworkSpec
    eta: float
    band: float
    select_acc: float
    grid: list
    biases: dict
    passes: int
    engine: str = "twin"
    readout_bias: np.ndarray | None = None
    readout_targets: tuple | None = None


def static_sequence(x, T: int) -> np.ndarray:
    """Static inputs ``[N, n_in]`` held for ``T`` steps: ``[T, N, n_in]`` float64."""
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise ParameterError(f"static_sequence: x must be [N, n_in], got shape {x.shape}")
    return np.ascontiguousarray(np.broadcast_to(x[None], (int(T), *x.shape)))


def presentation_order(n: int, passes: int, seed: int) -> np.ndarray:
    """Indices of ``passes`` passes over ``n`` samples, each pass a fresh seeded permutation."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(n) for _ in range(passes)]).astype(np.int64)


def spec_predictions(spec: NetworkSpec, x, n_classes: int) -> np.ndarray:
    """Predicted classes ``[N]`` of ``spec`` (numpy reference) on inputs ``x [T, N, n_in]``:
    the population code of its output spikes, or the argmax of its readout values."""
    reduce = None if spec.readout is None else spec.readout.reduce
    return output_predictions(run_reference(spec, x).output, n_classes, reduce)


def spec_accuracy(spec: NetworkSpec, x, y, n_classes: int) -> float:
    """Accuracy of ``spec`` (numpy reference) on inputs ``x [T, N, n_in]`` (population code, or
    the argmax of the readout values)."""
    return float(np.mean(spec_predictions(spec, x, n_classes) == np.asarray(y)))


def balanced_accuracy(spec: NetworkSpec, x, y, n_classes: int) -> float:
    """Mean over the classes present in ``y`` of the per-class accuracy (recall) of ``spec``:
    a network that predicts one class scores ``1 / (classes present)`` however imbalanced
    ``y`` is."""
    y = np.asarray(y)
    p = spec_predictions(spec, x, n_classes)
    return float(np.mean([np.mean(p[y == c] == c) for c in np.unique(y)]))


#: the scores a selection split can choose by
METRICS = {"accuracy": spec_accuracy, "balanced": balanced_accuracy}
ENGINES = ("twin", "lava")
#: which tuning samples learn (see :func:`tune_on_device`)
LEARN_ON = ("all", "errors")


def _check_grid(etas, bands, passes, feedback, metric, engine, learn_on) -> None:
    if not etas or not all(np.isfinite(e) and e > 0 for e in etas):
        raise ParameterError(f"tune_on_device: etas must be numbers > 0, got {list(etas)!r}")
    if not bands or not all(np.isfinite(b) and b > 0 for b in bands):
        raise ParameterError(f"tune_on_device: bands must be numbers > 0, got {list(bands)!r}")
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
        raise ParameterError(f"tune_on_device: passes must be an integer >= 1, got {passes!r}")
    for name, value, allowed in (("feedback", feedback, FEEDBACK_KINDS),
                                 ("metric", metric, tuple(METRICS)),
                                 ("engine", engine, ENGINES),
                                 ("learn_on", learn_on, LEARN_ON)):  # fmt: skip
        if value not in allowed:
            raise ParameterError(f"tune_on_device: {name} must be one of {allowed}, got {value!r}")


def _grid_rule(spec, float_spec, T, n_classes, eta, band, layers, fb, gate, weights, ro):
    kw = dict(layers=layers, feedback=fb, band=float(band), error_gate=gate,
              class_weights=weights, **ro)  # fmt: skip
    if spec.fixed:
        mants, shifts = fixed_rates(float(eta), spec, float_spec, layers)
        return make_rule(spec, T, n_classes, eta_mant=mants, eta_shift=shifts, **kw)
    return make_rule(spec, T, n_classes, eta=float(eta), **kw)


def _point(spec, rule, xs, ys, n: int, score, keep_best_pass: bool, learn_on: str):
    """One grid point: ``(score, passes kept, tuned spec, biases, learn flags of the kept
    passes, readout bias)``; pass by pass, each pass a twin run from the biases (and readout
    bias) the previous one left (the same as one run over every pass)."""
    passes = len(ys) // n
    field_name = "bias_mant" if spec.fixed else "bias"
    biases = {k: np.broadcast_to(getattr(spec.layers[k].neuron, field_name),
                                 (spec.layers[k].n,)).copy() for k in rule.layers}  # fmt: skip
    ro = spec.readout
    ro_bias = None if ro is None else np.broadcast_to(getattr(ro.params, field_name),
                                                      (ro.n,)).copy()  # fmt: skip
    best = None
    if keep_best_pass:
        best = (score(spec), 0, spec, biases, np.zeros(0, np.int64), ro_bias)
    cur, flags = spec, []
    for p in range(passes):
        xp, yp = xs[:, p * n : (p + 1) * n], ys[p * n : (p + 1) * n]
        learn = _learn_flags(cur, xp, yp, rule.targets.n_classes, learn_on)
        flags.append(learn)
        res = run_twin(cur, rule, xp, yp, learn)
        cur = tuned_spec(cur, res.biases, readout_bias=res.readout_bias)
        if keep_best_pass or p == passes - 1:
            acc = score(cur)
            if best is None or acc > best[0]:
                best = (acc, p + 1, cur, res.biases, np.concatenate(flags), res.readout_bias)
    return best


def _learn_flags(spec, x, y, n_classes: int, learn_on: str) -> np.ndarray:
    """Per-sample learning flags of a pass: all 1, or (``"errors"``) 1 on the samples the
    network misclassifies at the start of the pass."""
    if learn_on == "all":
        return np.ones(len(y), np.int64)
    return (spec_predictions(spec, x, n_classes) != y).astype(np.int64)


def tune_on_device(
    spec: NetworkSpec,
    x_tune,
    y_tune,
    x_select,
    y_select,
    *,
    T: int,
    n_classes: int,
    etas=(1e-4, 3e-4, 1e-3),
    bands=(0.25, 0.5),
    passes: int = 2,
    seed: int = 0,
    feedback: str = "derived",
    layers=None,
    float_spec: NetworkSpec | None = None,
    keep_best_pass: bool = False,
    metric: str = "accuracy",
    engine: str = "twin",
    learn_on: str = "all",
    error_gate: str = "always",
    class_weights=None,
    readout_targets=None,
    eta_readout: float = 0.05,
    readout_headroom: float | None = 1.0,
) -> OnDeviceChoice:
    """Tune ``spec``'s biases with the on-device rule; choose ``eta x band`` on the selection split.

    Args:
        spec: the starting network (float, or fixed point: then ``float_spec`` is the float
            network it was quantised from, for :func:`~lava_nt.ondevice.rule.fixed_rates`).
        x_tune, y_tune: tuning inputs ``[T, N, n_in]`` and labels ``[N]``.
        x_select, y_select: the selection split (same layout), e.g. the validation part.
        T, n_classes: steps per sample and classes of the population code.
        etas, bands: the grid (float rates; bands as fractions of the threshold).
        passes: passes over the tuning samples (each in its own seeded order).
        seed: the presentation order's seed (:func:`presentation_order`).
        feedback: ``"derived"`` (least squares on the tuning inputs' spike counts) or
            ``"identity"``.
        layers: tuned layers (default: every layer).
        keep_best_pass: keep each grid point's best pass on the selection split (0: untuned)
            instead of the last.
        metric: the selection score: ``"accuracy"`` or ``"balanced"`` (mean per-class
            accuracy, :func:`balanced_accuracy`).
        engine: ``"twin"``, or ``"lava"``: the grid runs on the twin, then the chosen point is
            re-run as one Lava learning run whose biases are returned (``select_acc`` is the
            Lava-learned network's score).
        learn_on: ``"all"`` tuning samples learn, or ``"errors"``: at the start of each pass
            the host marks the samples the network misclassifies, and only those learn in that
            pass (the rule's ``learn`` flags; a perceptron-like rule: once a sample is right it
            stops pushing the biases). The Lava re-run uses the flags the twin computed.
        error_gate, class_weights: the rule's error gate (``"always"`` or ``"misclassified"``)
            and class weights (None, ``"balanced"`` = ``N / (K N_y)`` over the tuning labels,
            or weights ``[n_classes]``), passed to :func:`~lava_nt.ondevice.rule.make_rule`
            (:mod:`lava_nt.spec.error_gate`).
        readout_targets, eta_readout, readout_headroom: a network with a readout
            (:mod:`lava_nt.spec.readout`): its value targets ``(on, off)`` (default: measured
            on ``x_tune``, ``y_tune`` with the untuned network), the rate of its bias' delta
            rule (float; converted in fixed point by
            :func:`~lava_nt.ondevice.rule.fixed_readout_rate`, as ``lava-nt ondevice`` does)
            and, in fixed point, the readout bias' headroom (a fraction of the larger target;
            None: none), all by :func:`~lava_nt.ondevice.rule.readout_setup`, the function
            ``lava-nt ondevice`` uses. The score is then the argmax of the readout values, and
            the readout bias learns at every grid point with the same rate.
    """
    _check_grid(etas, bands, passes, feedback, metric, engine, learn_on)
    if spec.fixed and (float_spec is None or float_spec.fixed):
        raise ParameterError("tune_on_device: a fixed-point spec needs float_spec (the float one)")
    x_tune = np.asarray(x_tune, np.float64)
    y_tune = np.asarray(y_tune, np.int64)
    if len(np.asarray(y_select)) == 0:
        raise ParameterError("tune_on_device: the selection split is empty")
    n = len(y_tune)
    order = presentation_order(n, passes, seed)
    xs, ys = x_tune[:, order], y_tune[order]
    layers = tuple(range(len(spec.layers))) if layers is None else tuple(layers)
    spec, ro_targets = readout_setup(spec, x_tune, y_tune, readout_targets, readout_headroom)
    ro = {}
    if ro_targets is not None:  # fixed point: make_rule converts eta_readout (mantissa None)
        ro = {"readout_targets": ro_targets, "eta_readout": float(eta_readout)}
        if spec.fixed:
            ro["eta_readout_mant"] = None
    mats = feedback_matrices(spec, layers, feedback, x_tune)  # measured once for the grid
    fb = [fixed_feedback(B) for B in mats] if spec.fixed else mats
    score = partial(_score, METRICS[metric], x_select, y_select, n_classes)
    if isinstance(class_weights, str):
        if class_weights != "balanced":
            raise ParameterError(
                f"tune_on_device: class_weights must be None, 'balanced' or weights, got "
                f"{class_weights!r}"
            )
        class_weights = balanced_class_weights(y_tune, n_classes, where="tune_on_device")
    rk = (layers, fb, error_gate, class_weights, ro)
    best, best_learn, grid = None, None, []
    for eta in etas:
        for band in bands:
            rule = _grid_rule(spec, float_spec, T, n_classes, eta, band, *rk)
            acc, kept, tuned, biases, learn, ro_bias = _point(spec, rule, xs, ys, n, score,
                                                              keep_best_pass, learn_on)  # fmt: skip
            grid.append({"eta": float(eta), "band": float(band), "select_acc": acc,
                         "passes": kept})  # fmt: skip
            if best is None or acc > best.select_acc:
                best = OnDeviceChoice(tuned, float(eta), float(band), acc, grid, biases, kept,
                                      "twin", ro_bias, ro_targets)  # fmt: skip
                best_learn = learn
    if engine == "lava" and best.passes > 0:
        from lava_nt.ondevice.lava_engine import run_lava  # lazy: imports Lava

        rule = _grid_rule(spec, float_spec, T, n_classes, best.eta, best.band, *rk)
        k = best.passes * n
        res = run_lava(spec, rule, xs[:, :k], ys[:k], best_learn)
        tuned = tuned_spec(spec, res.biases, readout_bias=res.readout_bias)
        best = best._replace(spec=tuned, biases=res.biases, select_acc=score(tuned),
                             readout_bias=res.readout_bias)  # fmt: skip
    return best._replace(engine=engine)


def _score(fn, x, y, n_classes, spec):
    return fn(spec, x, y, n_classes)
