"""Batched personalisation with a sparse-gradient band equals separate banded tuning runs."""

import copy

import torch

from lava_nt.builder import build_network
from lava_nt.nn.sparse_grad import sparse_gradients
from lava_nt.nn.surrogate import surrogate_width
from lava_nt.personalise import personalise_batched
from lava_nt.training import TrainConfig, train
from lava_nt.tuning import apply_tuning

K, N, N_IN = 3, 48, 30
BAND = 0.3
CFG = TrainConfig(epochs=4, lr=1e-2, batch_size=16, T=12, select="last", seed=7, spike_l1=1e-3)


def _persons(seed=1):
    g = torch.Generator().manual_seed(seed)
    sets = []
    for k in range(K):
        y = torch.randint(0, 2, (N,), generator=g)
        p = torch.full((N, N_IN), 0.2)
        p[y == 1, k * 5 : k * 5 + 10] = 0.7
        sets.append(((torch.rand(N, N_IN, generator=g) < p).double(), y))
    return sets


def _tuned_net():
    net = build_network(N_IN, [20], n_classes=2, population=5, dtype=torch.float64, seed=3)
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for layer in net.layers:
            layer.neuron.bias.copy_(
                torch.rand(layer.n, generator=g, dtype=torch.float64) * 0.4 - 0.2
            )
            layer.linear.weight.mul_(3.0)
    apply_tuning(net, ["nt1", "nt2"])
    return net


def _trained(net):
    return {n: p.detach() for n, p in net.named_parameters() if p.requires_grad}


def test_batched_band_equals_separate_banded_runs():
    sets = _persons()
    base = _tuned_net()
    banded, dense = copy.deepcopy(base), copy.deepcopy(base)
    personalise_batched(banded, sets, CFG, fused=True, sparse_grad=BAND)
    personalise_batched(dense, sets, CFG, fused=True)
    assert all(surrogate_width(m.spike_fn) is None for m in banded.modules()
               if hasattr(m, "spike_fn"))  # fmt: skip
    got, other = _trained(banded), _trained(dense)
    assert any(not torch.allclose(got[n], other[n], rtol=0, atol=1e-6) for n in got)
    for k in range(K):
        solo = copy.deepcopy(base)  # the reference: the plain NTNetwork, banded, via train()
        with sparse_gradients(solo, BAND):
            train(solo, sets[k], CFG)
        for name, ps in _trained(solo).items():
            torch.testing.assert_close(got[name][k, 0], ps, rtol=0, atol=1e-8)
