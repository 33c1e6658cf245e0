"""Batched personalisation equals K separate tuning runs (gradients, trained parameters, model
selection), on the plain and the fused path and with any grouping of persons into passes."""

import copy
import math

import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.nn.fused import FusedNTNetwork
from lava_nt.personalise import (
    _batched_loss,
    _split,
    default_group,
    evaluate_batched,
    is_better,
    personalise_batched,
)
from lava_nt.spec.validation import ParameterError
from lava_nt.training import TrainConfig, evaluate, loss_and_counts, train
from lava_nt.tuning import apply_tuning

K, N, N_IN = 3, 48, 30


def _persons(seed=0, n=N):
    g = torch.Generator().manual_seed(seed)
    sets = []
    for k in range(K):
        y = torch.randint(0, 2, (n,), generator=g)
        p = torch.full((n, N_IN), 0.2)
        p[y == 1, k * 5 : k * 5 + 10] = 0.7  # each person codes class 1 on other inputs
        sets.append(((torch.rand(n, N_IN, generator=g) < p).double(), y))
    return sets


def _tuned_net(methods=("nt1", "nt2")):
    net = build_network(N_IN, [20], n_classes=2, population=5, dtype=torch.float64, seed=3)
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for layer in net.layers:
            layer.neuron.bias.copy_(
                torch.rand(layer.n, generator=g, dtype=torch.float64) * 0.4 - 0.2
            )
            layer.linear.weight.mul_(3.0)
    apply_tuning(net, list(methods))
    return net


CFG = TrainConfig(epochs=3, lr=1e-2, batch_size=16, T=12, select="last", seed=7, spike_l1=1e-3)
# tiny validation sets: accuracies tie across epochs, so the validation loss decides
VCFG = TrainConfig(epochs=6, lr=1e-2, batch_size=16, T=12, select="val", seed=7, spike_l1=1e-3)


def _val_sets():
    return [(x[:6], y[:6]) for x, y in _persons(5)]


def _trained(net):
    return {n: p.detach() for n, p in net.named_parameters() if p.requires_grad}


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


@pytest.mark.parametrize(
    "fused, group, atol",
    [(False, None, 1e-9), (False, 2, 1e-9), (True, None, 1e-8), (True, 1, 1e-8)],
)
def test_batched_training_equals_separate_runs(fused, group, atol):
    sets = _persons(1)
    base = _tuned_net()
    batched = copy.deepcopy(base)
    cfg = CFG if not fused else TrainConfig(**{**CFG.__dict__, "epochs": 4})
    results = personalise_batched(batched, sets, cfg, fused=fused, group=group)
    assert len(results) == K and all(len(r.history) == cfg.epochs for r in results)
    bparams = _trained(batched)
    before = _trained(base)
    evals = evaluate_batched(batched, sets, cfg)
    for k in range(K):
        solo = copy.deepcopy(base)  # the reference: the plain NTNetwork through train()
        res = train(solo, sets[k], cfg)
        for name, ps in _trained(solo).items():
            assert not torch.equal(ps, before[name]), f"{name} did not train"
            torch.testing.assert_close(bparams[name][k, 0], ps, rtol=0, atol=atol)
        assert results[k].best_epoch == res.best_epoch == cfg.epochs - 1
        assert results[k].history[-1]["train_acc"] == pytest.approx(res.history[-1]["train_acc"])
        assert results[k].history[-1]["train_loss"] == pytest.approx(
            res.history[-1]["train_loss"], rel=1e-9
        )
        ref = evaluate(solo, *sets[k], cfg)
        assert evals[k]["acc"] == pytest.approx(ref["acc"])
        assert evals[k]["loss"] == pytest.approx(ref["loss"], rel=1e-9)


def test_fused_network_accepted_and_equals_plain_path():
    sets = _persons(1)
    base = _tuned_net()
    plain, fnet = copy.deepcopy(base), FusedNTNetwork.from_network(copy.deepcopy(base))
    r_plain = personalise_batched(plain, sets, CFG, fused=False)
    r_fused = personalise_batched(fnet, sets, CFG)
    p_plain, p_fused = _trained(plain), _trained(fnet.net)
    for name in p_plain:
        assert p_fused[name].shape == (K, 1, p_plain[name].shape[-1])
        torch.testing.assert_close(p_fused[name], p_plain[name], rtol=0, atol=1e-8)
    for a, b in zip(r_plain, r_fused, strict=True):
        assert a.best_epoch == b.best_epoch
        assert [h["train_acc"] for h in a.history] == [h["train_acc"] for h in b.history]


def test_grouping_changes_nothing():
    """Persons grouped into passes of 1, 2 or all: the same result (fused path)."""
    sets = _persons(3)
    base = _tuned_net()
    out = []
    for group in (1, 2, K):
        net = copy.deepcopy(base)
        res = personalise_batched(net, sets, VCFG, _val_sets(), group=group)
        out.append((_trained(net), [r.best_epoch for r in res], [r.history for r in res]))
    for params, epochs, hist in out[1:]:
        assert epochs == out[0][1]
        for name, p in params.items():
            torch.testing.assert_close(p, out[0][0][name], rtol=0, atol=1e-12)
        assert hist == out[0][2]


def test_split_and_default_group():
    assert _split(32, 6) == [(0, 5), (5, 11), (11, 16), (16, 21), (21, 27), (27, 32)]
    assert _split(3, 5) == [(0, 3)] and _split(3, 1) == [(0, 1), (1, 2), (2, 3)]
    eeg = build_network(160, [400, 800])
    assert default_group(eeg, TrainConfig(T=25, batch_size=32)) == 6  # 16 MB float32 tensors
    assert default_group(eeg, TrainConfig(T=25, batch_size=4096)) == 1


def test_is_better_rule():
    inf = math.inf
    assert is_better(0.5, 1.0, -inf, inf)
    assert is_better(0.6, 9.0, 0.5, 1.0)  # higher accuracy wins whatever the loss
    assert is_better(0.5, 0.9, 0.5, 1.0)  # tie: strictly lower loss wins
    assert not is_better(0.5, 1.0, 0.5, 1.0)  # full tie keeps the earlier epoch
    assert not is_better(0.5, 1.1, 0.5, 1.0)
    assert not is_better(0.4, 0.1, 0.5, 1.0)
    assert not is_better(math.nan, 0.1, 0.5, 1.0)
    assert not is_better(0.5, math.nan, 0.5, 1.0)
    assert is_better(3, None, 2, None) and not is_better(2, None, 2, None)  # select="last"


def _replay(history, patience=None, tie_break=True):
    """The selection rule applied to a history: (best epoch, epoch where patience ran out);
    ``tie_break=False``: the old rule (strictly greater accuracy only)."""
    best, b_acc, b_loss, bad = -1, -math.inf, math.inf, 0
    for row in history:
        loss = row["val_loss"] if tie_break else None
        if is_better(row["val_acc"], loss, b_acc, b_loss):
            best, b_acc, b_loss, bad = row["epoch"], row["val_acc"], loss, 0
        else:
            bad += 1
        if patience is not None and bad >= patience:
            return best, row["epoch"]
    return best, None


def test_validation_ties_go_to_the_lower_loss():
    sets, vals = _persons(2), _val_sets()
    base = _tuned_net()
    net = copy.deepcopy(base)
    results = personalise_batched(net, sets, VCFG, vals)
    ties = 0
    for k, res in enumerate(results):
        accs = [h["val_acc"] for h in res.history]
        first_best = accs.index(max(accs))  # what "strictly greater accuracy" alone selects
        assert res.best_epoch == _replay(res.history)[0]
        row = res.history[res.best_epoch]
        assert (res.best_metric, res.best_loss) == (row["val_acc"], row["val_loss"])
        assert row["val_loss"] == min(
            h["val_loss"] for h in res.history if h["val_acc"] == max(accs)
        )
        ties += res.best_epoch != first_best
        # the selected parameters are that epoch's: rerun the person alone for best_epoch + 1
        # epochs with select="last"
        solo = copy.deepcopy(base)
        cfg = TrainConfig(**{**VCFG.__dict__, "select": "last", "epochs": res.best_epoch + 1})
        personalise_batched(solo, [sets[k]], cfg)
        for name, p in _trained(solo).items():
            torch.testing.assert_close(_trained(net)[name][k], p[0], rtol=0, atol=1e-12)
    assert ties >= 1, "the data should produce at least one accuracy tie broken by the loss"


def test_tie_break_improvement_resets_patience():
    sets, vals = _persons(2), _val_sets()
    cfg = TrainConfig(**{**VCFG.__dict__, "patience": 2, "epochs": 8})
    net = _tuned_net()
    results = personalise_batched(net, sets, cfg, vals)
    longer = 0
    for res in results:
        best, stop = _replay(res.history, cfg.patience)
        assert res.best_epoch == best
        assert res.stopped_early == (stop is not None)
        assert len(res.history) == (stop + 1 if stop is not None else cfg.epochs)
        # accuracy alone would have run out of patience earlier: a tie-break improvement reset
        # the counter
        _, stop_acc_only = _replay(res.history, cfg.patience, tie_break=False)
        longer += stop_acc_only is not None and stop_acc_only < len(res.history) - 1
    assert longer >= 1


def test_selection_and_patience_equal_separate_trainer_runs():
    """select="val" with patience: every person stops and selects exactly as train() alone."""
    sets, vals = _persons(2), _val_sets()
    cfg = TrainConfig(**{**VCFG.__dict__, "patience": 2, "epochs": 8})
    base = _tuned_net()
    net = copy.deepcopy(base)
    results = personalise_batched(net, sets, cfg, vals, group=2)
    assert len({len(r.history) for r in results}) > 1  # persons stopped at different epochs
    for k, res in enumerate(results):
        solo = copy.deepcopy(base)
        ref = train(solo, sets[k], cfg, vals[k])
        assert (res.best_epoch, res.stopped_early) == (ref.best_epoch, ref.stopped_early)
        assert res.best_loss == pytest.approx(ref.best_loss, rel=1e-9)
        assert [h["val_acc"] for h in res.history] == [h["val_acc"] for h in ref.history]
        for name, p in _trained(solo).items():
            torch.testing.assert_close(_trained(net)[name][k, 0], p, rtol=0, atol=1e-8)


def test_validation_loss_equals_trainer_evaluate():
    vals = _val_sets()
    vals[1] = (vals[1][0][:4], vals[1][1][:4])  # sizes may differ (padding is masked)
    base = _tuned_net()
    net = copy.deepcopy(base).expand_parameters(K)
    with torch.no_grad():
        for p in _trained(net).values():
            p.add_(
                torch.randn(p.shape, generator=torch.Generator().manual_seed(1), dtype=p.dtype)
                * 0.1
            )
    got = evaluate_batched(net, vals, VCFG)
    for k in range(K):
        solo = copy.deepcopy(base)
        with torch.no_grad():
            for name, p in _trained(solo).items():
                p.copy_(_trained(net)[name][k, 0])
        ref = evaluate(solo, *vals[k], VCFG)
        assert got[k]["acc"] == pytest.approx(ref["acc"])
        assert got[k]["loss"] == pytest.approx(ref["loss"], rel=1e-12)


def test_gradient_clipping_per_person_equals_separate_runs():
    sets = _persons(1)
    cfg = TrainConfig(**{**CFG.__dict__, "max_grad_norm": 0.05})
    base = _tuned_net()
    net = copy.deepcopy(base)
    personalise_batched(net, sets, cfg, fused=False, group=2)
    for k in range(K):
        solo = copy.deepcopy(base)
        train(solo, sets[k], cfg)
        for name, p in _trained(solo).items():
            torch.testing.assert_close(_trained(net)[name][k, 0], p, rtol=0, atol=1e-9)
    unclipped = copy.deepcopy(base)
    train(unclipped, sets[K - 1], CFG)  # the clipping was active
    diff = max((_trained(unclipped)[n] - p).abs().max() for n, p in _trained(solo).items())
    assert diff > 1e-4


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
    with pytest.raises(ParameterError, match="only loss='ce'"):
        personalise_batched(_tuned_net(), sets, TrainConfig(epochs=1, T=5, loss="mse"))
    with pytest.raises(ParameterError, match="'group' must be"):
        personalise_batched(_tuned_net(), sets, CFG, group=0)
    sparse = build_network(N_IN, [20], n_classes=2, population=5, dtype=torch.float64)
    apply_tuning(sparse, "spiking_bias_sparse")
    with pytest.raises(ParameterError, match="input matrix is trainable"):
        personalise_batched(sparse, sets, CFG)
