"""Trainer: model-selection tie-break, resume after an early stop or the last epoch, checkpoint
interval (kill-and-resume stays exact, metrics.jsonl keeps each epoch once), old checkpoints."""

import json
import math

import pytest
import torch

import lava_nt.training as tr
from lava_nt.builder import build_network
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import half_active_task
from lava_nt.training import TrainConfig, is_better, train
from lava_nt.tuning import apply_tuning


def _net(seed=5):
    net = build_network(40, [32], n_classes=2, population=8, beta=0.8, seed=seed)
    apply_tuning(net, ["nt1", "nt2"])
    return net


CFG = dict(lr=5e-3, batch_size=16, T=10, seed=1, spike_l1=1e-3)


def _rows(run_dir):
    return [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _assert_same_params(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


def _assert_same_result(r_res, r_ref):
    assert r_res.history == r_ref.history
    assert r_res.best_epoch == r_ref.best_epoch
    assert r_res.best_metric == r_ref.best_metric
    assert r_res.best_loss == r_ref.best_loss
    assert r_res.stopped_early == r_ref.stopped_early


def _assert_same_best_pt(dir_a, dir_b):
    a = torch.load(dir_a / "best.pt", weights_only=True)
    b = torch.load(dir_b / "best.pt", weights_only=True)
    assert a.keys() == b.keys()
    assert {k: v for k, v in a.items() if k != "model"} == {
        k: v for k, v in b.items() if k != "model"
    }
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name


# ------------------------------------------------------------------------ the selection rule


def test_is_better_rule():
    inf = math.inf
    assert is_better(0.5, 1.0, -inf, inf)  # anything beats the start
    assert is_better(0.6, 9.0, 0.5, 1.0)  # higher accuracy wins whatever the loss
    assert not is_better(0.4, 0.1, 0.5, 1.0)  # lower accuracy loses whatever the loss
    assert is_better(0.5, 0.9, 0.5, 1.0)  # tie, lower loss: the later epoch wins
    assert not is_better(0.5, 1.1, 0.5, 1.0)  # tie, higher loss: the earlier epoch stays
    assert not is_better(0.5, 1.0, 0.5, 1.0)  # full tie: the earlier epoch stays
    assert not is_better(math.nan, 0.1, 0.5, 1.0)
    assert not is_better(0.5, math.nan, 0.5, 1.0)
    assert not is_better(0.5, None, 0.5, 1.0)  # no loss: no tie-break
    assert is_better(3, None, 2, None)  # select="last": the epoch number


class _Scripted:
    """Replaces ``training.evaluate``: returns scripted (acc, loss) per epoch and records the
    model's parameters at each evaluation (i.e. at the end of each epoch)."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = 0
        self.states = []

    def __call__(self, model, x, y, cfg, batch_size=256):
        acc, loss = self.script[self.calls]
        self.calls += 1
        self.states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return {"acc": acc, "loss": loss}


@pytest.mark.parametrize("select", ["val", "test"])
def test_tie_break_picks_lower_loss_and_resets_patience(monkeypatch, tmp_path, select):
    # epoch 1: tie with a lower loss (better); 2: tie, higher loss; 3: tie, equal loss;
    # 4: higher accuracy whatever the loss (better); 5, 6, 7: no improvement (patience 3)
    accs = [0.50, 0.50, 0.50, 0.50, 0.75, 0.75, 0.50, 0.75]
    losses = [1.00, 0.80, 0.90, 0.80, 2.00, 2.00, 0.10, 2.50]
    fake = _Scripted(zip(accs, losses, strict=True))
    monkeypatch.setattr(tr, "evaluate", fake)
    x, y = half_active_task(2)
    xs, ys = half_active_task(3, n=24)
    data = {"val_data": (xs, ys)} if select == "val" else {"test_data": (xs, ys)}
    net = _net()
    cfg = TrainConfig(**CFG, epochs=20, select=select, patience=3)
    res = train(net, (x, y), cfg, run_dir=tmp_path, **data)
    # expected by the rule, epoch by epoch
    assert [r[f"{select}_loss"] for r in res.history] == losses[: len(res.history)]
    assert res.best_epoch == 4 and res.best_metric == 0.75 and res.best_loss == 2.0
    assert res.stopped_early and len(res.history) == 8
    for name, v in net.state_dict().items():
        assert torch.equal(v, fake.states[4][name]), name
    assert torch.load(tmp_path / "best.pt", weights_only=True)["loss"] == 2.0


def test_tie_with_lower_loss_is_an_improvement_for_patience(monkeypatch):
    # equal accuracy throughout: epochs 1 and 3 improve by loss only, so with patience 2 the run
    # stops after epoch 5 (without the tie-break it would have stopped after epoch 2)
    losses = [1.0, 0.9, 0.95, 0.7, 0.7, 0.8, 0.1]
    fake = _Scripted((0.5, v) for v in losses)
    monkeypatch.setattr(tr, "evaluate", fake)
    x, y = half_active_task(2)
    net = _net()
    cfg = TrainConfig(**CFG, epochs=20, select="val", patience=2)
    res = train(net, (x, y), cfg, val_data=half_active_task(3, n=8))
    assert res.best_epoch == 3 and res.best_loss == 0.7
    assert res.stopped_early and len(res.history) == 6
    for name, v in net.state_dict().items():
        assert torch.equal(v, fake.states[3][name]), name


def test_tie_break_in_a_real_run_selects_by_the_rule(tmp_path):
    """A small validation set: accuracies tie; the selected epoch follows the rule."""
    x, y = half_active_task(0)
    xv, yv = half_active_task(1, n=12)
    net = _net(0)
    res = train(net, (x, y), TrainConfig(**CFG, epochs=14), val_data=(xv, yv), run_dir=tmp_path)
    rows = _rows(tmp_path)
    assert rows == res.history
    top = max(r["val_acc"] for r in rows)
    tied = [r for r in rows if r["val_acc"] == top]
    # the scenario the rule is for: the first epoch at the top accuracy is not the one with the
    # lowest validation loss among those at the top
    assert min(r["val_loss"] for r in tied) < tied[0]["val_loss"], [
        (r["val_acc"], r["val_loss"]) for r in rows
    ]
    chosen = min(tied, key=lambda r: (r["val_loss"], r["epoch"]))
    assert res.best_epoch == chosen["epoch"] != tied[0]["epoch"]
    assert res.best_loss == chosen["val_loss"]
    ev = tr.evaluate(net, xv, yv, TrainConfig(**CFG))  # the model holds the chosen epoch
    assert (ev["acc"], ev["loss"]) == (chosen["val_acc"], chosen["val_loss"])


# -------------------------------------------------------------- resume after the run ended


def _early_stop_setup():
    x, y = half_active_task(2)
    xv, yv = half_active_task(3, n=24)
    cfg = TrainConfig(**CFG, epochs=40, patience=3, checkpoint_every_s=0)
    return (x, y), (xv, yv), cfg


def test_resume_after_an_early_stop_finalises_like_the_uninterrupted_run(tmp_path, monkeypatch):
    train_data, val, cfg = _early_stop_setup()
    ref = _net()
    r_ref = train(ref, train_data, cfg, val_data=val, run_dir=tmp_path / "ref")
    assert r_ref.stopped_early and len(r_ref.history) < cfg.epochs  # the scenario
    stop = r_ref.history[-1]["epoch"]

    # killed right after the checkpoint of the early-stop epoch: best.pt not written yet
    real_save = tr.atomic_torch_save

    def save(obj, path, **kw):
        if path.name == "best.pt":
            raise KeyboardInterrupt("killed")
        real_save(obj, path, **kw)

    monkeypatch.setattr(tr, "atomic_torch_save", save)
    with pytest.raises(KeyboardInterrupt):
        train(_net(), train_data, cfg, val_data=val, run_dir=tmp_path / "run")
    monkeypatch.setattr(tr, "atomic_torch_save", real_save)
    run = tmp_path / "run"
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == stop and state["bad_epochs"] == cfg.patience
    assert not (run / "best.pt").exists()

    resumed = _net()  # a new process rebuilds the model and calls train() again
    r_res = train(resumed, train_data, cfg, val_data=val, run_dir=run)
    _assert_same_result(r_res, r_ref)
    _assert_same_params(resumed, ref)
    _assert_same_best_pt(run, tmp_path / "ref")
    assert _rows(run) == r_ref.history  # no extra epochs


def test_stop_after_the_early_stop_epoch_then_resume(tmp_path):
    """``stop_after_epoch`` at the early-stop epoch is a kill after its checkpoint."""
    train_data, val, cfg = _early_stop_setup()
    ref = _net()
    r_ref = train(ref, train_data, cfg, val_data=val)
    stop = r_ref.history[-1]["epoch"]
    r_kill = train(_net(), train_data, cfg, val_data=val, run_dir=tmp_path, stop_after_epoch=stop)
    assert not r_kill.stopped_early and not (tmp_path / "best.pt").exists()
    resumed = _net()
    r_res = train(resumed, train_data, cfg, val_data=val, run_dir=tmp_path)
    _assert_same_result(r_res, r_ref)
    _assert_same_params(resumed, ref)
    # calling it once more on the finished run changes nothing either
    again = _net()
    _assert_same_result(train(again, train_data, cfg, val_data=val, run_dir=tmp_path), r_ref)
    _assert_same_params(again, ref)
    assert [r["epoch"] for r in _rows(tmp_path)] == list(range(stop + 1))


def test_resume_after_the_last_epoch_trains_no_more(tmp_path):
    x, y = half_active_task(2)
    val = half_active_task(3, n=24)
    cfg = TrainConfig(**CFG, epochs=4, checkpoint_every_s=0)
    ref = _net()
    r_ref = train(ref, (x, y), cfg, val_data=val)
    assert not r_ref.stopped_early
    train(_net(), (x, y), cfg, val_data=val, run_dir=tmp_path, stop_after_epoch=cfg.epochs - 1)
    assert not (tmp_path / "best.pt").exists()
    resumed = _net()
    r_res = train(resumed, (x, y), cfg, val_data=val, run_dir=tmp_path)
    _assert_same_result(r_res, r_ref)
    _assert_same_params(resumed, ref)
    assert [r["epoch"] for r in _rows(tmp_path)] == list(range(cfg.epochs))


# ------------------------------------------------------------------------ checkpoint interval


class _EpochClock:
    """A checkpoint clock that advances one second per epoch (counted at each evaluation)."""

    def __init__(self):
        self.t = 0.0
        self.real_evaluate = tr.evaluate

    def now(self):
        return self.t

    def evaluate(self, *args, **kwargs):
        self.t += 1.0
        return self.real_evaluate(*args, **kwargs)


def test_checkpoint_interval_kill_and_resume_is_exact(tmp_path, monkeypatch):
    x, y = half_active_task(2)
    val = half_active_task(3, n=24)
    cfg = TrainConfig(**CFG, epochs=9, checkpoint_every_s=3)
    ref = _net()
    r_ref = train(
        ref, (x, y), TrainConfig(**{**cfg.__dict__, "checkpoint_every_s": 0}), val_data=val
    )

    clock = _EpochClock()
    monkeypatch.setattr(tr, "_now", clock.now)
    monkeypatch.setattr(tr, "evaluate", clock.evaluate)
    written = []
    real_save = tr.atomic_torch_save

    def save(obj, path, **kw):
        if path.name == "checkpoint.pt":
            written.append(obj["epoch"])
        real_save(obj, path, **kw)

    monkeypatch.setattr(tr, "atomic_torch_save", save)
    kill = 5
    train(_net(), (x, y), cfg, val_data=val, run_dir=tmp_path, stop_after_epoch=kill)
    # the first epoch, then one epoch after 3 s (an epoch is 1 s on this clock); epochs 4 and 5
    # were not checkpointed, and metrics.jsonl holds them from before the kill
    assert written == [0, 3]
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 3
    assert [r["epoch"] for r in _rows(tmp_path)] == list(range(kill + 1))

    written.clear()
    resumed = _net()
    r_res = train(resumed, (x, y), cfg, val_data=val, run_dir=tmp_path)
    # epochs 4 and 5 recomputed; a checkpoint exists, so the next one is 3 s after the resume
    # (after epoch 6), then the end
    assert written == [6, 8]
    _assert_same_result(r_res, r_ref)
    _assert_same_params(resumed, ref)
    rows = _rows(tmp_path)
    assert [r["epoch"] for r in rows] == list(range(cfg.epochs))  # each epoch exactly once
    assert rows == r_ref.history


def test_resume_with_another_checkpoint_interval(tmp_path):
    """``checkpoint_every_s`` does not change the result, so it may differ on resume."""
    x, y = half_active_task(2)
    val = half_active_task(3, n=24)
    cfg = TrainConfig(**CFG, epochs=4, checkpoint_every_s=0)
    ref = _net()
    r_ref = train(ref, (x, y), cfg, val_data=val)
    train(_net(), (x, y), cfg, val_data=val, run_dir=tmp_path, stop_after_epoch=1)
    resumed = _net()
    later = TrainConfig(**CFG, epochs=4, checkpoint_every_s=600)
    _assert_same_result(train(resumed, (x, y), later, val_data=val, run_dir=tmp_path), r_ref)
    _assert_same_params(resumed, ref)
    with pytest.raises(ParameterError, match="different configuration.*differs in lr"):
        train(_net(), (x, y), TrainConfig(**{**CFG, "lr": 1e-3}, epochs=4), val_data=val,
              run_dir=tmp_path)  # fmt: skip


# ------------------------------------------------------------------- older checkpoints


def _make_old(ckpt, **changes):
    """Rewrite a checkpoint as the trainer before the tie-break wrote it (no best loss, no
    checkpoint interval in the configuration)."""
    state = torch.load(ckpt, weights_only=True)
    state["best"] = {k: v for k, v in state["best"].items() if k != "loss"}
    state["config"] = {k: v for k, v in state["config"].items() if k != "checkpoint_every_s"}
    for k, v in changes.items():
        if k == "best":
            state["best"].update(v)
        else:
            state[k] = v
    torch.save(state, ckpt)
    return state


def test_old_checkpoint_resumes_exactly_when_its_choice_agrees(tmp_path):
    x, y = half_active_task(2)
    val = half_active_task(3, n=24)
    cfg = TrainConfig(**CFG, epochs=5, checkpoint_every_s=0)
    ref = _net()
    r_ref = train(ref, (x, y), cfg, val_data=val)
    train(_net(), (x, y), cfg, val_data=val, run_dir=tmp_path, stop_after_epoch=1)
    old = _make_old(tmp_path / "checkpoint.pt")
    assert "loss" not in old["best"]
    resumed = _net()
    r_res = train(resumed, (x, y), cfg, val_data=val, run_dir=tmp_path)
    _assert_same_result(r_res, r_ref)
    _assert_same_params(resumed, ref)


def test_old_checkpoint_with_a_different_choice_is_refused(tmp_path, monkeypatch):
    # a tie with a lower loss at epoch 1: the old rule kept epoch 0 (and counted a bad epoch)
    monkeypatch.setattr(tr, "evaluate", _Scripted([(0.5, 1.0), (0.5, 0.8)] * 4))
    x, y = half_active_task(2)
    cfg = TrainConfig(**CFG, epochs=5, checkpoint_every_s=0)
    train(
        _net(), (x, y), cfg, val_data=half_active_task(3, n=8), run_dir=tmp_path, stop_after_epoch=1
    )
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["best"]["epoch"] == 1 and state["bad_epochs"] == 0  # the new rule's choice
    # a current-format checkpoint whose selection state does not follow from its history
    tampered = {**state, "best": {**state["best"], "epoch": 0}, "bad_epochs": 1}
    torch.save(tampered, tmp_path / "checkpoint.pt")
    with pytest.raises(ParameterError, match="inconsistent: its best epoch 0 .* history"):
        train(_net(), (x, y), cfg, val_data=half_active_task(3, n=8), run_dir=tmp_path)
    _make_old(tmp_path / "checkpoint.pt", best={"epoch": 0, "metric": 0.5}, bad_epochs=1)
    with pytest.raises(ParameterError, match="older trainer.*chose epoch 0.*chooses epoch 1"):
        train(_net(), (x, y), cfg, val_data=half_active_task(3, n=8), run_dir=tmp_path)
    # resume=False starts over
    res = train(
        _net(), (x, y), cfg, val_data=half_active_task(3, n=8), run_dir=tmp_path, resume=False
    )
    assert len(res.history) == cfg.epochs


# ---------------------------------------------------------------------------- config errors


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"checkpoint_every_s": -1.0}, r"'checkpoint_every_s' must be .* >= 0 .* got -1.0"),
        ({"checkpoint_every_s": math.nan}, r"'checkpoint_every_s' must be .* got nan"),
        ({"checkpoint_every_s": math.inf}, r"'checkpoint_every_s' must be .* got inf"),
        ({"checkpoint_every_s": True}, r"'checkpoint_every_s' must be .* got True"),
        ({"checkpoint_every_s": "30"}, r"'checkpoint_every_s' must be .* got '30'"),
        ({"patience": 0}, r"'patience' must be a positive integer or None, got 0"),
        ({"patience": 2.5}, r"'patience' must be a positive integer or None, got 2.5"),
        ({"patience": True}, r"'patience' must be a positive integer or None, got True"),
        ({"spike_l1": -0.1}, r"'spike_l1' must be a finite number >= 0, got -0.1"),
    ],
)
def test_bad_config_values_raise(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        TrainConfig(**kwargs)
    TrainConfig(checkpoint_every_s=0)  # every epoch
    TrainConfig(checkpoint_every_s=5)  # an int is fine
