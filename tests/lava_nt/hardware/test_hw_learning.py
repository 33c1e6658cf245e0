"""The learning cost of on-device tuning: counts by hand on a tiny rule, energy = counts x
figures, the ``learning`` section of ``lava-nt ondevice``'s report, and errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lava_nt.cli import main
from lava_nt.converters.model_file import save_model
from lava_nt.converters.quantize import quantize
from lava_nt.hardware.energy import LOIHI1_TABLE2
from lava_nt.hardware.learning import learning_activity, learning_energy
from lava_nt.ondevice import make_rule
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_input, random_spec

T = 4


@pytest.fixture()
def tiny():
    """Layers 3 -> 4 -> 2 (2 classes, one output neuron each), both layers tuned; layer 0 gets
    a hand-made feedback matrix, layer 1 (the output) the identity."""
    spec = random_spec(0, (3, 4, 2))
    B0 = np.array([[1.0, 0.0], [0.5, -1.0], [0.0, 0.0], [0.0, 2.0]])  # column fan-outs 2, 2
    rule = make_rule(spec, T, 2, eta=1e-3, feedback=[B0, np.eye(2)], rates=(0.5, 0.0))
    # targets: label's neuron 2 spikes (0.5 * 4), the other 0
    out = np.zeros((T, 3, 2))
    out[:2, 0, 0] = 1  # sample 0, label 0: counts [2, 0] -> errors [0, 0]
    out[:, 1, 0] = 1  # sample 1, label 1: counts [4, 0] -> errors [-4, 2]
    out[0, 2, 1] = 1  # sample 2, test only (learn 0): not counted
    labels = np.array([0, 1, 0])
    learn = np.array([1, 1, 0])
    return rule, out, labels, learn


def test_counts_by_hand(tiny):
    act = learning_activity(*tiny)
    assert (act.T, act.n_tune, act.n_out) == (T, 2, 2)
    assert act.error_counter_updates == 2 * T
    assert act.error_messages == pytest.approx((0 + 2) / 2)
    l0, l1 = act.layers
    assert (l0.index, l0.neurons, l0.eligibility_updates, l0.bias_updates) == (0, 4, 16, 4)
    assert l0.error_synops == pytest.approx((0 + 2 + 2) / 2)  # sample 1: both columns, 2 each
    assert (l1.eligibility_updates, l1.bias_updates, l1.error_synops) == (8, 2, 1.0)
    assert act.eligibility_updates == 24 and act.bias_updates == 6 and act.error_synops == 3


def test_energy_is_counts_times_figures(tiny):
    act = learning_activity(*tiny)
    e = learning_energy(act, LOIHI1_TABLE2)
    f = LOIHI1_TABLE2
    total = (24 + 8 + 6) * f.neuron_update_active_pj + 1 * f.spike_within_tile_pj + 3 * 23.6
    low = (24 + 8 + 6) * f.neuron_update_inactive_pj + 1 * f.spike_within_tile_pj + 3 * 23.6
    assert e["estimate"] is True
    assert e["eligibility_pj"] == pytest.approx(24 * 81.0)
    assert e["error_counters_pj"] == pytest.approx(8 * 81.0)
    assert e["bias_updates_pj"] == pytest.approx(6 * 81.0)
    assert e["error_synops_pj"] == pytest.approx(3 * 23.6)
    assert e["error_messages_pj"] == pytest.approx(1.7)
    assert e["total_pj"] == pytest.approx(total) and e["total_low_pj"] == pytest.approx(low)
    assert e["run_total_pj"] == pytest.approx(2 * total)
    assert e["layers"][0]["total_pj"] == pytest.approx((16 + 4) * 81.0 + 2 * 23.6)
    assert "ESTIMATE" in e["model"]


def test_fixed_point_counts_the_effective_weights():
    spec = random_spec(0, (3, 4, 2))
    fixed, _ = quantize(spec)
    rule = make_rule(fixed, T, 2, layers=[1], eta_mant=1, eta_shift=0)
    out = np.zeros((T, 1, 2))  # label 0, counts [0, 0] -> errors [2, 0]
    act = learning_activity(rule, out, np.array([0]), np.array([1]))
    assert act.error_messages == 1 and act.layers[0].error_synops == 1


def test_errors(tiny):
    rule, out, labels, learn = tiny
    with pytest.raises(ParameterError, match="output must be"):
        learning_activity(rule, out[:2], labels, learn)
    with pytest.raises(ParameterError, match="labels must be"):
        learning_activity(rule, out, labels.astype(float), learn)
    with pytest.raises(ParameterError, match="learn must be"):
        learning_activity(rule, out, labels, np.array([1, 2, 0]))
    with pytest.raises(ParameterError, match="no tuning sample"):
        learning_activity(rule, out, labels, np.zeros(3, int))
    with pytest.raises(ParameterError, match="LearningActivity"):
        learning_energy({"T": 4})


def test_ondevice_report_has_the_learning_cost(tmp_path, capsys):
    spec = random_spec(5, (16, 12, 4), excitatory=(0, 1))
    save_model(tmp_path / "m.h5", spec, meta={"n_classes": 2, "T": 8})
    rng = np.random.default_rng(0)
    for name, seed, n in (("tune", 1, 6), ("test", 2, 4)):
        np.savez(tmp_path / f"{name}.npz", x=random_input(seed, 8, n, 16), y=rng.integers(0, 2, n))
    argv = ["ondevice", str(tmp_path / "m.h5"), "--train", str(tmp_path / "tune.npz"),
            "--test", str(tmp_path / "test.npz"), "--out", str(tmp_path / "o"),
            "--epochs", "2"]  # fmt: skip
    assert main(argv) == 0
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    cost = rep["learning"]
    assert cost["counts"]["n_tune"] == 12  # 6 samples x 2 epochs
    per = cost["counts"]["per_tuning_sample"]
    assert per["eligibility_updates"] == (12 + 4) * 8 and per["bias_updates"] == 16
    assert cost["energy"]["estimate"] is True and cost["energy"]["total_pj"] > 0
    assert "learning cost per tuning sample (ESTIMATE" in capsys.readouterr().out


def test_gain_and_weight_rules_add_their_updates_and_messages():
    """Layer 0 (4 neurons, a volumetric spiking bias of m neurons) learns bias, gain and
    weights through the hand-made B0 of ``tiny``; layer 1 gains only (no spiking bias)."""
    spec = random_spec(0, (3, 4, 2), spiking_bias=("volumetric", None))
    m = spec.layers[0].spiking_bias.m
    B0 = np.array([[1.0, 0.0], [0.5, -1.0], [0.0, 0.0], [0.0, 2.0]])
    rule = make_rule(spec, T, 2, learn=("gain", "sb_weight"), feedback=[B0, np.eye(2)])
    out = np.zeros((T, 2, 2))
    out[:2, 0, 0] = 1  # label 0, counts [2, 0]: errors [0, 0] -> no l, no q
    out[:, 1, 0] = 1  # label 1, counts [4, 0]: errors [-4, 2] -> l nonzero in rows 0, 1, 3
    act = learning_activity(rule, out, np.array([0, 1]), np.array([1, 1]))
    l0, l1 = act.layers
    assert (l0.bias_updates, l1.bias_updates) == (0, 0)  # the biases do not learn
    assert (l0.gain_eligibility_updates, l0.gain_updates) == (4 * T, 4)
    assert (l0.trace_updates, l0.sb_weight_updates, l0.sb_eligibility_updates) == (
        m * T, m, 4 * T)  # fmt: skip
    assert l0.sb_messages == pytest.approx((0 + 3) / 2)
    assert (l1.trace_updates, l1.sb_messages, l1.gain_updates) == (0, 0, 2)
    extra = (4 * T + 4 + m * T + m + 4 * T) + (2 * T + 2)
    assert act.extra_updates == extra and act.sb_messages == 1.5
    e = learning_energy(act)
    assert e["gain_and_weight_updates_pj"] == pytest.approx(extra * 81.0)
    assert e["weight_messages_pj"] == pytest.approx(1.5 * 1.7)
    base = (act.eligibility_updates + act.error_counter_updates) * 81.0
    assert e["total_pj"] == pytest.approx(base + extra * 81.0 + (1 + 1.5) * 1.7 + 3 * 23.6)
    spec_counted = learning_activity(rule, out, np.array([0, 1]), np.array([1, 1]), spec=spec)
    assert spec_counted.layers[0].trace_updates == m * T


@pytest.fixture()
def tiny_readout():
    """Layers 3 -> 4 -> 5 and a readout of 2 units ("last"), both layers tuned with hand-made
    feedback matrices (B1 stands for W_r^T: dense, 5 x 2); value targets (5, -5)."""
    spec = random_spec(0, (3, 4, 5), readout=2)
    B0 = np.array([[1.0, 0.0], [0.5, -1.0], [0.0, 0.0], [0.0, 2.0]])  # column fan-outs 2, 2
    B1 = np.arange(1.0, 11.0).reshape(5, 2)  # dense: fan-outs 5, 5
    rule = make_rule(spec, T, 2, eta=1e-3, feedback=[B0, B1], readout_targets=(5.0, -5.0),
                     eta_readout=0.1)  # fmt: skip
    out = np.zeros((T, 3, 2))  # the readout traces; "last" reads step T-1
    out[-1, 0] = [5.0, -5.0]  # label 0 on target: errors [0, 0]
    out[0, 1] = [9.0, 9.0]  # an earlier step: not the value
    out[-1, 1] = [1.0, 2.0]  # label 1: errors [-6, 3]
    out[-1, 2] = [0.0, 0.0]  # a test sample (learn 0): not counted
    return spec, rule, out, np.array([0, 1, 0]), np.array([1, 1, 0])


def test_readout_counts_by_hand(tiny_readout):
    spec, rule, out, labels, learn = tiny_readout
    act = learning_activity(rule, out, labels, learn, spec=spec)
    assert (act.n_tune, act.n_out, act.error_counter_updates) == (2, 2, 0)  # no spike counters
    assert (act.readout_value_updates, act.readout_errors, act.readout_bias_updates) == (
        2 * T, 2, 2)  # fmt: skip
    assert act.error_messages == pytest.approx((0 + 2) / 2)
    l0, l1 = act.layers
    assert l0.error_synops == pytest.approx((0 + 2 + 2) / 2)
    assert l1.error_synops == pytest.approx((0 + 5 * 2) / 2)  # the dense product's MACs
    assert (l1.eligibility_updates, l1.bias_updates) == (5 * T, 5)
    per = act.to_dict()["per_tuning_sample"]
    assert (per["readout_value_updates"], per["readout_errors"], per["readout_bias_updates"]) == (
        2 * T, 2, 2)  # fmt: skip
    e = learning_energy(act)
    upd = (4 + 5) * T + (4 + 5) + (2 * T + 2 + 2)
    assert e["readout_pj"] == pytest.approx((2 * T + 4) * 81.0)
    assert e["error_counters_pj"] == 0
    assert e["total_pj"] == pytest.approx(upd * 81.0 + 1 * 1.7 + (2 + 5) * 23.6)
    frozen = make_rule(spec, T, 2, eta=1e-3, feedback=[rule.feedback[0], rule.feedback[1]],
                       readout_targets=(5.0, -5.0), eta_readout=0.0)  # fmt: skip
    assert learning_activity(frozen, out, labels, learn, spec=spec).readout_bias_updates == 0


def test_readout_errors_are_the_rules_fixed_point_errors():
    """Fixed point: an error that the error shift rounds to 0 is not sent; the gate sends
    nothing for a sample whose values already predict its label."""
    spec = random_spec(1, (3, 4, 5), fixed=True, readout=2)
    rule = make_rule(spec, T, 2, eta_mant=1, eta_shift=0, readout_targets=(1000, -1000),
                     eta_readout_mant=1)  # fmt: skip
    s = rule.error_shift
    assert s >= 1
    out = np.zeros((T, 1, 2))
    out[-1, 0] = [1000 - ((1 << (s - 1)) - 1), -1000 - 3 * (1 << s)]  # errors [0, 3] shifted
    act = learning_activity(rule, out, np.array([0]), np.array([1]), spec=spec)
    assert act.error_messages == 1
    assert act.layers[-1].error_synops == np.count_nonzero(rule.effective_feedback(True)[-1][:, 1])
    gated = make_rule(spec, T, 2, eta_mant=1, eta_shift=0, readout_targets=(1000, -1000),
                      eta_readout_mant=1, error_gate="misclassified")  # fmt: skip
    act = learning_activity(gated, out, np.array([0]), np.array([1]), spec=spec)
    assert act.error_messages == 0 and act.readout_errors == 2  # computed, not sent


def test_a_readout_rule_needs_the_spec(tiny_readout):
    _, rule, out, labels, learn = tiny_readout
    with pytest.raises(ParameterError, match="needs spec"):
        learning_activity(rule, out, labels, learn)
