"""Spike / synaptic-operation counts and the energy arithmetic against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from lava_nt.hardware.energy import (
    LOIHI1_TABLE2,
    activity_from_spikes,
    energy_estimate,
    measure_activity,
)
from lava_nt.hardware.resources import LOIHI1, count_resources
from lava_nt.network import reference_run


def hand_activity(spec):
    # T = 2, one sample
    x = np.array([[[1, 0, 1]], [[0, 1, 0]]], float)  # each input spikes once
    s0 = np.array([[[1, 0, 0, 1]], [[1, 1, 0, 0]]], float)  # per neuron [2, 1, 0, 1]
    b0 = np.array([[[1, 1]], [[1, 0]]], float)  # per bias neuron [2, 1]
    s1 = np.array([[[0, 1]], [[1, 1]]], float)  # 3 spikes
    return activity_from_spikes(spec, x, [s0, s1], [b0, None])


def test_synops_by_hand(spec342):
    act = hand_activity(spec342)
    l0, l1 = act.layers
    assert act.input_spikes == 3
    assert (l0.spikes, l0.bias_spikes, l1.spikes) == (4, 3, 3)
    # layer 0: inputs x W columns [2, 2, 3] = 7, x W_in columns [1, 1, 1] = 3,
    # bias neuron 0 (2 spikes) reaches targets 0 and 1, bias neuron 1 (w_b = 0) none: 4
    assert (l0.weight_synops, l0.w_in_synops, l0.bias_synops, l0.synops) == (7, 3, 4, 14)
    # layer 1: layer-0 spikes [2, 1, 0, 1] x W1 columns [1, 1, 0, 2] = 5
    assert l1.synops == 5
    assert act.synops == 19 and act.spikes == 10
    assert l0.rate == pytest.approx(4 / (4 * 2))


def test_energy_by_hand(spec342):
    act = hand_activity(spec342)
    res = count_resources(spec342, chip=LOIHI1)  # 12 compartments
    e = energy_estimate(act, res, LOIHI1_TABLE2)
    syn = 19 * 23.6
    neu = 12 * 2 * 81.0
    neu_lo = 12 * 2 * 52.0
    spk = 10 * 1.7
    assert e["synops_pj"] == pytest.approx(syn)
    assert e["neuron_updates_pj"] == pytest.approx(neu)
    assert e["spikes_pj"] == pytest.approx(spk)
    assert e["learning_pj"] == 0
    assert e["total_pj"] == pytest.approx(syn + neu + spk)  # 2409.4 pJ
    assert e["total_pj"] == pytest.approx(2409.4)
    assert e["total_low_pj"] == pytest.approx(syn + neu_lo + spk)
    assert e["layers"][0]["neuron_updates"] == 10 * 2
    assert sum(r["total_pj"] for r in e["layers"]) == pytest.approx(e["total_pj"])
    assert "pre-silicon Loihi 1" in e["figures"]["label"]


def test_measure_activity_matches_reference_run(spec342):
    rng = np.random.default_rng(0)
    x = (rng.random((20, 6, 3)) < 0.5).astype(float)
    y = np.zeros(6, int)
    act = measure_activity(spec342, x, y, n_classes=2)
    out, recs = reference_run(spec342, x, record=True)
    assert act.layers[0].spikes == pytest.approx(recs[0]["spikes"].sum() / 6)
    assert act.layers[0].bias_spikes == pytest.approx(recs[0]["bias_spikes"].sum() / 6)
    assert act.layers[1].spikes == pytest.approx(out.sum() / 6)
    # brute force: every presynaptic spike times its nonzero fan-out
    w1_fan = (spec342.layers[1].weight != 0).sum(0)
    brute = np.einsum("tbj,j->", recs[0]["spikes"], w1_fan) / 6
    assert act.layers[1].synops == pytest.approx(brute)
    assert act.accuracy is not None and 0 <= act.accuracy <= 1


def test_activity_shape_errors(spec342):
    with pytest.raises(ValueError):
        activity_from_spikes(spec342, np.zeros((2, 1, 5)), [None, None], [None, None])


def test_class_count_is_the_models_or_an_error():
    """No silent 2-class default: labels need a known class count, taken from the network."""
    from lava_nt.builder import build_network
    from lava_nt.hardware import analog_accuracy, hardware_report, measure_activity

    net = build_network(12, [10], n_classes=3, population=2, seed=0)
    rng = np.random.default_rng(1)
    x = (rng.random((8, 6, 12)) < 0.4).astype(np.float64)
    y = np.array([0, 1, 2, 0, 1, 2])
    spec = net.to_spec()
    with pytest.raises(ValueError, match="measure_activity: the model does not record"):
        measure_activity(spec, x, y)
    with pytest.raises(ValueError, match="hardware_report: the model does not record"):
        hardware_report(spec, x, y)
    with pytest.raises(ValueError, match="analog_accuracy: the model does not record"):
        analog_accuracy(spec, x, y)
    a = measure_activity(spec, x, y, n_classes=3)
    assert analog_accuracy(net, x, y).n_classes == 3
    assert hardware_report(net, x, y).activity.accuracy == a.accuracy
    with pytest.raises(ValueError, match="label 3 is outside the model's 3 classes"):
        measure_activity(spec, x, np.array([0, 1, 2, 3, 1, 2]), n_classes=3)
