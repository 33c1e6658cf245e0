"""lava_nt.ondevice.select.tune_on_device: the one grid search of the EEG and image examples
(passes run one after the other equal one long run; the best pass; the selection score; the
chosen point re-run in Lava)."""

from __future__ import annotations

import numpy as np
import pytest

from lava_nt.builder import build_network
from lava_nt.converters.quantize import quantize
from lava_nt.ondevice import bias_headroom, make_rule, run_twin
from lava_nt.ondevice.select import (
    balanced_accuracy,
    presentation_order,
    spec_accuracy,
    static_sequence,
    tune_on_device,
)
from lava_nt.spec.validation import ParameterError

T = 6


@pytest.fixture(scope="module")
def task():
    rng = np.random.default_rng(0)
    spec = build_network(12, [10], n_classes=2, population=3, seed=1).to_spec()
    x = static_sequence((rng.random((30, 12)) < 0.4).astype(float), T)
    y = rng.integers(0, 2, 30)
    fixed = bias_headroom(quantize(spec)[0], range(2), 1.0)
    return spec, fixed, (x[:, :20], y[:20]), (x[:, 20:], y[20:])


def _nets(task):
    spec, fixed, *_ = task
    return [(spec, {}), (fixed, {"float_spec": spec})]


@pytest.mark.parametrize("which", [0, 1], ids=["float", "fixed"])
def test_the_chosen_point_is_one_run_over_every_pass(task, which):
    net, extra = _nets(task)[which]
    (xt, yt), (xv, yv) = task[2], task[3]
    ch = tune_on_device(net, xt, yt, xv, yv, T=T, n_classes=2, etas=(1e-3, 1e-2),
                        bands=(0.5,), passes=3, seed=4, **extra)  # fmt: skip
    assert ch.passes == 3 and ch.engine == "twin" and len(ch.grid) == 2
    order = presentation_order(len(yt), 3, 4)
    kw = dict(feedback="derived", x_feedback=xt, band=ch.band)
    if net.fixed:
        from lava_nt.ondevice import fixed_rates

        m, s = fixed_rates(ch.eta, net, task[0], range(2))
        rule = make_rule(net, T, 2, eta_mant=m, eta_shift=s, **kw)
    else:
        rule = make_rule(net, T, 2, eta=ch.eta, **kw)
    res = run_twin(net, rule, xt[:, order], yt[order])
    for k in range(2):
        assert np.array_equal(res.biases[k], ch.biases[k])
    assert ch.select_acc == spec_accuracy(ch.spec, xv, yv, 2)


def test_keep_best_pass_never_loses_to_the_untuned_network(task):
    spec, _, (xt, yt), (xv, yv) = task
    untuned = spec_accuracy(spec, xv, yv, 2)
    ch = tune_on_device(spec, xt, yt, xv, yv, T=T, n_classes=2, etas=(1e-3, 1e-2, 1e-1),
                        bands=(0.5, 1.0), passes=3, keep_best_pass=True)  # fmt: skip
    assert all(0 <= g["passes"] <= 3 for g in ch.grid)
    assert all(g["select_acc"] >= untuned for g in ch.grid)
    again = tune_on_device(spec, xt, yt, xv, yv, T=T, n_classes=2, etas=(ch.eta,),
                           bands=(ch.band,), passes=max(ch.passes, 1))  # fmt: skip
    if ch.passes:  # the kept pass is the network after that many passes
        assert ch.select_acc == again.select_acc
        for k in range(2):
            assert np.array_equal(again.biases[k], ch.biases[k])


def test_balanced_accuracy_scores_a_one_class_network_at_chance():
    spec = build_network(4, [3], n_classes=2, population=1, seed=0).to_spec()
    out = spec.layers[-1]
    out.neuron = out.neuron._replace(bias=np.array([5.0, -5.0]))  # always class 0
    x = static_sequence(np.ones((10, 4)), 4)
    y = np.array([0] * 8 + [1] * 2)
    assert spec_accuracy(spec, x, y, 2) == pytest.approx(0.8)
    assert balanced_accuracy(spec, x, y, 2) == pytest.approx(0.5)


def test_learn_on_errors_learns_from_the_misclassified_samples_only(task):
    from lava_nt.decode import predictions
    from lava_nt.network import run_reference

    spec, _, (xt, yt), (xv, yv) = task
    ch = tune_on_device(spec, xt, yt, xv, yv, T=T, n_classes=2, etas=(1e-2,), bands=(0.5,),
                        passes=1, seed=2, learn_on="errors")  # fmt: skip
    order = presentation_order(len(yt), 1, 2)
    x, y = xt[:, order], yt[order]
    wrong = (predictions(run_reference(spec, x).output, 2) != y).astype(np.int64)
    assert 0 < wrong.sum() < len(y)
    rule = make_rule(spec, T, 2, eta=1e-2, band=0.5, feedback="derived", x_feedback=xt)
    want = run_twin(spec, rule, x, y, wrong)
    every = run_twin(spec, rule, x, y)
    for k in range(2):
        assert np.array_equal(want.biases[k], ch.biases[k])
    assert any(not np.array_equal(every.biases[k], ch.biases[k]) for k in range(2))


@pytest.mark.parametrize("which", [0, 1], ids=["float", "fixed"])
def test_error_gate_and_balanced_class_weights_reach_the_rule(task, which):
    from lava_nt.spec.error_gate import balanced_class_weights

    net, extra = _nets(task)[which]
    (xt, yt), (xv, yv) = task[2], task[3]
    kw = dict(T=T, n_classes=2, etas=(1e-2,), bands=(0.5,), passes=1, seed=3, **extra)
    ch = tune_on_device(net, xt, yt, xv, yv, error_gate="misclassified",
                        class_weights="balanced", **kw)  # fmt: skip
    plain = tune_on_device(net, xt, yt, xv, yv, **kw)
    order = presentation_order(len(yt), 1, 3)
    rk = dict(feedback="derived", x_feedback=xt, band=0.5, error_gate="misclassified",
              class_weights=balanced_class_weights(yt, 2))  # fmt: skip
    if net.fixed:
        from lava_nt.ondevice import fixed_rates

        m, s = fixed_rates(1e-2, net, task[0], range(2))
        rule = make_rule(net, T, 2, eta_mant=m, eta_shift=s, **rk)
    else:
        rule = make_rule(net, T, 2, eta=1e-2, **rk)
    want = run_twin(net, rule, xt[:, order], yt[order])
    for k in range(2):
        assert np.array_equal(want.biases[k], ch.biases[k])
    assert any(not np.array_equal(plain.biases[k], ch.biases[k]) for k in range(2))


@pytest.mark.parametrize(("kw", "match"), [(dict(metric="f1"), "metric"),
                                            (dict(class_weights="equal"), "class_weights"),
                                            (dict(engine="loihi"), "engine"),
                                            (dict(learn_on="right"), "learn_on")])  # fmt: skip
def test_bad_options(task, kw, match):
    spec, _, (xt, yt), (xv, yv) = task
    with pytest.raises(ParameterError, match=match):
        tune_on_device(spec, xt, yt, xv, yv, T=T, n_classes=2, **kw)


@pytest.mark.parametrize(("which", "learn_on"), [(0, "all"), (1, "all"), (1, "errors")],
                         ids=["float", "fixed", "fixed-errors"])  # fmt: skip
def test_lava_engine_learns_what_the_twin_learns(task, which, learn_on):
    net, extra = _nets(task)[which]
    (xt, yt), (xv, yv) = task[2], task[3]
    kw = dict(T=T, n_classes=2, etas=(1e-2,), bands=(0.5,), passes=2, seed=1,
              learn_on=learn_on, **extra)  # fmt: skip
    twin = tune_on_device(net, xt, yt, xv, yv, **kw)
    lava = tune_on_device(net, xt, yt, xv, yv, engine="lava", **kw)
    assert lava.engine == "lava" and (lava.eta, lava.band, lava.passes) == (twin.eta, twin.band, 2)
    assert lava.select_acc == twin.select_acc
    for k in range(2):
        if net.fixed:
            assert np.array_equal(lava.biases[k], twin.biases[k])
        else:
            assert np.allclose(lava.biases[k], twin.biases[k], rtol=0, atol=1e-12)
