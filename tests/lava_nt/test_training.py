"""Trainer: learning happens, model selection, metrics file, checkpoint/resume equality, errors."""

import json

import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import half_active_task
from lava_nt.training import TrainConfig, evaluate, population_counts, train
from lava_nt.tuning import apply_tuning


def _net(seed=0):
    return build_network(40, [32], n_classes=2, population=8, beta=0.8, seed=seed)


CFG = dict(epochs=4, lr=5e-3, batch_size=16, T=10, seed=1)


def test_population_counts_sum_each_class_group():
    out = torch.zeros(3, 2, 6)
    out[0, 0, :3] = 1
    out[1, 1, 3:] = 1
    out[2, 1, 4] = 1
    assert population_counts(out, 2).tolist() == [[3.0, 0.0], [0.0, 4.0]]
    with pytest.raises(ParameterError, match="do not split into 4 classes"):
        population_counts(out, 4)


def test_training_learns_and_selects_on_validation(tmp_path):
    x, y = half_active_task(0)
    xv, yv = half_active_task(1, n=64)
    net = _net()
    before = evaluate(net, xv, yv, TrainConfig(**CFG))["acc"]
    res = train(
        net, (x, y), TrainConfig(**{**CFG, "epochs": 6}), val_data=(xv, yv), run_dir=tmp_path
    )
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(6))
    # highest validation accuracy; among equal accuracies the lowest validation loss (then the
    # earliest epoch)
    best = min(rows, key=lambda r: (-r["val_acc"], r["val_loss"]))
    assert res.best_epoch == rows.index(best) and res.best_metric == best["val_acc"]
    after = evaluate(net, xv, yv, TrainConfig(**CFG))["acc"]
    assert after == best["val_acc"]  # the model holds the selected epoch
    assert after > max(before, 0.7), (before, after)
    assert (tmp_path / "best.pt").exists()


def test_killed_and_resumed_run_equals_uninterrupted(tmp_path):
    x, y = half_active_task(2)
    xv, yv = half_active_task(3, n=48)
    cfg = TrainConfig(**CFG, spike_l1=1e-3)
    ref = _net(5)
    apply_tuning(ref, ["nt1", "nt2"])
    r_ref = train(ref, (x, y), cfg, val_data=(xv, yv), run_dir=tmp_path / "a")

    net = _net(5)
    apply_tuning(net, ["nt1", "nt2"])
    train(net, (x, y), cfg, val_data=(xv, yv), run_dir=tmp_path / "b", stop_after_epoch=1)
    resumed = _net(5)  # a new process would rebuild the model, then resume from the checkpoint
    apply_tuning(resumed, ["nt1", "nt2"])
    r_res = train(resumed, (x, y), cfg, val_data=(xv, yv), run_dir=tmp_path / "b")
    assert r_res.history == r_ref.history
    assert r_res.best_epoch == r_ref.best_epoch
    for (name, a), (_, b) in zip(
        ref.state_dict().items(), resumed.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_early_stopping_and_thesis_selection():
    x, y = half_active_task(4)
    xt, yt = half_active_task(5, n=48)
    net = _net()
    apply_tuning(net, "nt2")
    cfg = TrainConfig(**{**CFG, "lr": 1e-9, "epochs": 20}, select="test", patience=2)
    res = train(net, (x, y), cfg, test_data=(xt, yt))
    assert res.stopped_early and len(res.history) == 3  # no improvement after the first epoch


def test_bad_data_and_config_raise():
    x, y = half_active_task(0)
    net = _net()
    cfg = TrainConfig(**CFG, select="last")
    with pytest.raises(ParameterError, match="width 39, the network expects 40"):
        train(net, (x[:, :39], y), cfg)
    with pytest.raises(ParameterError, match="binary spikes"):
        train(net, (x * 0.5, y), cfg)
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ParameterError, match="NaN"):
        train(net, (bad, y), cfg)
    with pytest.raises(ParameterError, match=r"train data: label 2 is outside the model's 2 "):
        train(net, (x, y + 1), cfg)
    with pytest.raises(ParameterError, match="needs validation data"):
        train(net, (x, y), TrainConfig(**CFG))
    with pytest.raises(ParameterError, match="'loss' must be one of"):
        TrainConfig(loss="hinge")
    net2 = _net()
    for p in net2.parameters():
        p.requires_grad_(False)
    with pytest.raises(ParameterError, match="no trainable parameters"):
        train(net2, (x, y), cfg)


def test_mse_loss_trains():
    x, y = half_active_task(6)
    net = _net()
    res = train(net, (x, y), TrainConfig(**CFG, loss="mse", select="last", target_rates=(0.6, 0.0)))
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]


def test_compiled_forward_trains_like_eager(capsys):
    """torch.compile path (eager backend: no inductor cost in tests) gives the same run."""
    x, y = half_active_task(7)
    runs = []
    for compile_ in (False, True):
        net = _net(2)
        cfg = TrainConfig(**CFG, select="last", compile=compile_, compile_backend="eager")
        runs.append(train(net, (x, y), cfg).history)
    assert runs[0] == runs[1]
    assert "first call took" in capsys.readouterr().out
