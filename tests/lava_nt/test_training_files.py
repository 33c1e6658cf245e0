"""Trainer files from a run directory: nothing in a checkpoint can run code, a truncated checkpoint
is moved aside and the training restarts, every file the trainer writes loads with
``weights_only=True``, leftovers of interrupted writes are removed."""

import json
import os
import stat

import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.io import UnsafeFileError, load_torch
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import half_active_task
from lava_nt.training import TrainConfig, train
from lava_nt.tuning import apply_tuning


class Payload:
    """Pickles as a call that creates ``marker`` when the file is unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def _net():
    net = build_network(40, [16], n_classes=2, population=4, beta=0.8, seed=5)
    apply_tuning(net, ["nt1", "nt2"])
    return net


CFG = TrainConfig(lr=5e-3, batch_size=16, T=6, seed=1, epochs=4, checkpoint_every_s=0)
TRAIN, VAL = half_active_task(2, n=64), half_active_task(3, n=16)


def _rows(run_dir):
    return [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_the_payload_is_live_under_an_unsafe_load(tmp_path):
    """The planted file really runs code when loaded the unsafe way (the tests below are not
    vacuous)."""
    marker = tmp_path / "ran"
    torch.save({"x": Payload(marker)}, tmp_path / "evil.pt")
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def test_checkpoint_with_a_pickle_payload_is_refused_and_does_not_run(tmp_path):
    run = tmp_path / "run"
    train(_net(), TRAIN, CFG, val_data=VAL, run_dir=run, stop_after_epoch=1)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    marker = tmp_path / "ran"
    state["history"].append(Payload(marker))
    torch.save(state, run / "checkpoint.pt")
    with pytest.raises(UnsafeFileError, match=r"checkpoint\.pt'.*trainer checkpoint refused"):
        train(_net(), TRAIN, CFG, val_data=VAL, run_dir=run)
    assert not marker.exists()
    assert (run / "checkpoint.pt").exists()  # refused, not deleted: the user decides


def test_truncated_checkpoint_is_moved_aside_and_the_training_restarts(tmp_path):
    ref = _net()
    r_ref = train(ref, TRAIN, CFG, val_data=VAL, run_dir=tmp_path / "ref")
    run = tmp_path / "run"
    train(_net(), TRAIN, CFG, val_data=VAL, run_dir=run, stop_after_epoch=1)
    ckpt = run / "checkpoint.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])  # a disk fault
    net = _net()
    with pytest.warns(RuntimeWarning, match=r"truncated or corrupt.*moved to .*corrupt-1.*scratch"):
        res = train(net, TRAIN, CFG, val_data=VAL, run_dir=run)
    assert (run / "checkpoint.pt.corrupt-1").read_bytes() == data[: len(data) // 2]
    assert res.history == r_ref.history and res.best_epoch == r_ref.best_epoch
    for name, t in ref.state_dict().items():
        assert torch.equal(t, net.state_dict()[name]), name
    assert _rows(run) == r_ref.history  # each epoch once, from the restart
    # a second corrupt checkpoint goes next to the first
    ckpt.write_bytes(b"not a torch file")
    with pytest.warns(RuntimeWarning, match="corrupt-2"):
        train(_net(), TRAIN, CFG, val_data=VAL, run_dir=run)
    assert (run / "checkpoint.pt.corrupt-2").read_bytes() == b"not a torch file"


def test_a_torch_file_that_is_not_a_checkpoint_is_refused_by_name(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "checkpoint.pt")
    with pytest.raises(ParameterError, match=r"checkpoint\.pt' is not a checkpoint.*'model'"):
        train(_net(), TRAIN, CFG, val_data=VAL, run_dir=tmp_path)
    torch.save(torch.zeros(3), tmp_path / "checkpoint.pt")
    with pytest.raises(ParameterError, match="holds a Tensor, not a dict"):
        train(_net(), TRAIN, CFG, val_data=VAL, run_dir=tmp_path)


def test_every_trainer_file_loads_with_weights_only_and_no_temporaries_remain(tmp_path):
    """Checkpoint and best.pt hold only tensors, numbers, strings and plain containers (the
    generator state is a tensor); leftovers of an interrupted write are removed by the next."""
    stale = [tmp_path / ".checkpoint.pt.x1y2.tmp", tmp_path / ".best.pt.abc.tmp"]
    for p in stale:
        p.write_bytes(b"partial")
    res = train(_net(), TRAIN, CFG, val_data=VAL, run_dir=tmp_path)
    state = load_torch(tmp_path / "checkpoint.pt", what="trainer checkpoint")
    assert isinstance(state["generator"], torch.Tensor) and state["epoch"] == CFG.epochs - 1
    best = load_torch(tmp_path / "best.pt", what="best model")
    assert best["epoch"] == res.best_epoch
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best.pt",
        "checkpoint.pt",
        "metrics.jsonl",
    ]


def test_atomic_writes_get_the_mode_open_would_give(tmp_path):
    """mkstemp makes its file 0600; a file lava-nt writes atomically (model files, run.json,
    reports) gets 0666 minus the umask, as a plain open() would create it."""
    from lava_nt.converters.model_file import save_model
    from lava_nt.io import atomic_write_text

    old = os.umask(0o027)
    try:
        text = atomic_write_text(tmp_path / "a.json", "{}\n")
        net = build_network(4, [3], n_classes=2, population=1, seed=0)
        model = save_model(tmp_path / "m.h5", net, meta={"seed": 0, "data_protocol": "honest"})
    finally:
        os.umask(old)
    for path in (text, model):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
