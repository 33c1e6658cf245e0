"""Batched personalisation equals K separate tuning runs (gradients and trained parameters)."""

import copy

import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.personalise import _batched_loss, evaluate_batched, personalise_batched
from lava_nt.spec.validation import ParameterError
from lava_nt.training import TrainConfig, evaluate, loss_and_counts, train
from lava_nt.tuning import apply_tuning

K, N, N_IN = 3, 48, 30


def _persons(seed=0):
    g = torch.Generator().manual_seed(seed)
    sets = []
    for k in range(K):
        y = torch.randint(0, 2, (N,), generator=g)
        p = torch.full((N, N_IN), 0.2)
        p[y == 1, k * 5 : k * 5 + 10] = 0.7  # each person codes class 1 on other inputs
        sets.append(((torch.rand(N, N_IN, generator=g) < p).double(), y))
    return sets


def _tuned_net(methods=("nt1", "nt2")):
    net = build_network(N_IN, [20], n_classes=2, population=5, dtype=torch.float64, seed=3)
    with torch.no_grad():
        for layer in net.layers:
            layer.neuron.bias.uniform_(-0.2, 0.2)
            layer.linear.weight.mul_(3.0)
    apply_tuning(net, list(methods))
    return net


CFG = TrainConfig(epochs=3, lr=1e-2, batch_size=16, T=12, select="last", seed=7, spike_l1=1e-3)


def test_first_step_gradients_equal_separate_runs():
    sets = _persons()
    base = _tuned_net()
    batched = copy.deepcopy(base).expand_parameters(K)
    x = torch.stack([s[0][:16] for s in sets])
    y = torch.stack([s[1][:16] for s in sets])
    loss, _ = _batched_loss(batched, x, y, CFG)
    loss.sum().backward()
    for k in range(K):
        solo = copy.deepcopy(base)
        loss_k, _ = loss_and_counts(solo, sets[k][0][:16], sets[k][1][:16], CFG)
        loss_k.backward()
        torch.testing.assert_close(loss[k], loss_k, rtol=0, atol=1e-12)
        bparams = dict(batched.named_parameters())
        for name, ps in solo.named_parameters():
            if ps.requires_grad:
                assert ps.grad.abs().sum() > 0, name
                torch.testing.assert_close(bparams[name].grad[k, 0], ps.grad, rtol=0, atol=1e-12)


def test_batched_training_equals_separate_runs():
    sets = _persons(1)
    base = _tuned_net()
    batched = copy.deepcopy(base)
    results = personalise_batched(batched, sets, CFG)
    assert len(results) == K and all(len(r.history) == CFG.epochs for r in results)
    for k in range(K):
        solo = copy.deepcopy(base)
        res = train(solo, sets[k], CFG)
        bparams = dict(batched.named_parameters())
        before = dict(base.named_parameters())
        for name, ps in solo.named_parameters():
            if ps.requires_grad:
                assert not torch.equal(ps, before[name]), f"{name} did not train"
                torch.testing.assert_close(
                    bparams[name].detach()[k, 0], ps.detach(), rtol=0, atol=1e-9
                )
        assert results[k].history[-1]["train_acc"] == pytest.approx(res.history[-1]["train_acc"])
        acc_solo = evaluate(solo, *sets[k], CFG)["acc"]
        assert evaluate_batched(batched, sets, CFG)[k] == pytest.approx(acc_solo)


def test_batched_personalisation_rejects_what_it_cannot_do():
    sets = _persons()
    net = build_network(N_IN, [20], n_classes=2, population=5, dtype=torch.float64)
    with pytest.raises(ParameterError, match="weights are trainable"):
        personalise_batched(net, sets, CFG)
    net = _tuned_net()
    uneven = [sets[0], (sets[1][0][:40], sets[1][1][:40]), sets[2]]
    with pytest.raises(ParameterError, match="different training-set sizes"):
        personalise_batched(net, uneven, CFG)
    with pytest.raises(ParameterError, match="one validation set per person"):
        personalise_batched(_tuned_net(), sets, TrainConfig(epochs=1, T=5))
    sparse = build_network(N_IN, [20], n_classes=2, population=5, dtype=torch.float64)
    apply_tuning(sparse, "spiking_bias_sparse")
    with pytest.raises(ParameterError, match="input matrix is trainable"):
        personalise_batched(sparse, sets, CFG)
