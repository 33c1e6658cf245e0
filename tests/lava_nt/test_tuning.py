"""Tuning methods: what each makes trainable, and the parameter counts the thesis reports for
the EEG network (160-400-800-100)."""

import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.spec.validation import ParameterError
from lava_nt.tuning import apply_tuning, count_trainable


@pytest.fixture(scope="module")
def eeg_sizes():
    return dict(n_in=160, hidden=[400, 800], n_classes=2, population=50)


@pytest.mark.parametrize(
    "methods, kwargs, expected",
    [
        ("tft", {}, 465_300),
        ("nt2", {}, 1_300),
        ("nt1", {}, 1_300),
        ("spiking_bias", {}, 1_300),
        ("spiking_bias_sparse", {"sparsity": 0.9}, 47_700),
        ("volumetric", {"layers": [0], "group_size": 10, "input_sparsity": 0.85}, 1_000),
        (["nt1", "nt2"], {}, 2_600),
    ],
)
def test_paper_parameter_counts(eeg_sizes, methods, kwargs, expected):
    net = build_network(**eeg_sizes)
    assert count_trainable(net) == 465_300  # pretraining: W1..W3 + per-neuron biases
    with torch.no_grad():
        for layer in net.layers:
            layer.neuron.bias.add_(0.01)  # a pretrained network has nonzero biases
    report = apply_tuning(net, methods, **kwargs)
    assert report.total == expected == count_trainable(net)
    assert sum(p.requires_grad for p in net.parameters()) == len(report.trainable)


def test_ablation_network_counts():
    net = build_network(160, [1000, 277], n_classes=2, population=49)
    assert count_trainable(net) == 465_521
    with torch.no_grad():
        net.layers[0].neuron.bias.add_(0.1)
    assert apply_tuning(net, "nt2", layers=[0]).total == 1_000


def test_additive_bias_on_network_without_bias():
    net = build_network(20, [10], bias=False, population=5)
    assert count_trainable(net) == 20 * 10 + 10 * 10
    with pytest.raises(ParameterError, match="use 'additive_bias'"):
        apply_tuning(net, "nt2")
    report = apply_tuning(net, "additive_bias")
    assert report.total == 20
    assert all(layer.neuron.bias.requires_grad for layer in net.layers)


def test_tuning_keeps_the_pretrained_function_and_freezes_weights():
    torch.manual_seed(0)
    net = build_network(30, [20], population=5, dtype=torch.float64)
    x = (torch.rand(25, 8, 30) < 0.3).double()
    with torch.no_grad():
        before = net(x)
    apply_tuning(net, ["nt1", "nt2"])
    with torch.no_grad():
        after = net(x)
    assert torch.equal(before, after), "identity-initialised NT must start at the pretrained net"
    assert not any(layer.linear.weight.requires_grad for layer in net.layers)
    report = apply_tuning(net, "nt1", gain_init="uniform", seed=3)
    g = net.layers[0].neuron.gain
    gv = g.detach()
    assert g.requires_grad and 0 <= float(gv.min()) and float(gv.max()) <= 1 and gv.std() > 0
    assert any("U(0.0, 1.0)" in a for a in report.added)


def test_bad_methods_raise_clear_errors():
    net = build_network(20, [10], population=5)
    with pytest.raises(ParameterError, match="unknown method 'nt3'. Did you mean"):
        apply_tuning(net, "nt3")
    with pytest.raises(ParameterError, match="group_size 3 does not divide layer 0"):
        apply_tuning(net, "volumetric", group_size=3)
    with pytest.raises(ParameterError, match="at most one of"):
        apply_tuning(net, ["spiking_bias", "volumetric"])
    with pytest.raises(ParameterError, match="layer 5 does not exist"):
        apply_tuning(net, "nt1", layers=[5])
