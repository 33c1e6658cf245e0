"""``lava-nt train`` / ``lava-nt tune --sparse-grad B_TH``: the library result, the recorded
setting, rerun and resume like every trainer option, and clear refusals."""

import numpy as np
import pytest
import torch

from lava_nt.cli import main
from lava_nt.converters.model_file import load_model
from lava_nt.spec.validation import ParameterError
from lava_nt.training import TrainConfig


def _data(path, n, seed, shift=0.0, T=8):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.where(y[:, None] == 1, np.linspace(0.1, 0.6, 12) + shift, np.linspace(0.6, 0.1, 12))
    x = (rng.random((n, 12)) < np.clip(p, 0, 1)).astype(np.uint8)
    np.savez(path, x=x, y=y, T=np.int64(T))
    return path


@pytest.fixture()
def d(tmp_path):
    return {
        "dir": tmp_path,
        "train": _data(tmp_path / "train.npz", 64, 1),
        "val": _data(tmp_path / "val.npz", 32, 2),
        "p_train": _data(tmp_path / "p_train.npz", 48, 3, shift=0.1),
    }


def _train_argv(d, out, *extra):
    return ["train", "--data", str(d["train"]), "--val", str(d["val"]), "--hidden", "10", "8",
            "--population", "4", "--epochs", "3", "--lr", "3e-3", "--out", str(out),
            "--no-progress", "--checkpoint-every", "0", *extra]  # fmt: skip


def _weights(path):
    spec, info = load_model(path)
    return [np.asarray(ls.weight) for ls in spec.layers], info


def test_train_with_sparse_grad_is_the_library_run_and_recorded(d, capsys):
    from lava_nt.builder import build_network
    from lava_nt.nn.fused import FusedNTNetwork
    from lava_nt.training import train

    out = d["dir"] / "sparse.h5"
    argv = _train_argv(d, out, "--sparse-grad", "0.3")
    assert main(argv) == 0
    weights, info = _weights(out)
    assert info.meta["run"]["settings"]["trainer"]["sparse_grad"] == 0.3
    tr, va = np.load(d["train"]), np.load(d["val"])
    net = build_network(12, [10, 8], 2, 4, seed=0)
    cfg = TrainConfig(epochs=3, lr=3e-3, T=8, select="val", seed=0, sparse_grad=0.3)
    t = (torch.as_tensor(tr["x"], dtype=torch.float32), torch.as_tensor(tr["y"]))
    v = (torch.as_tensor(va["x"], dtype=torch.float32), torch.as_tensor(va["y"]))
    fused = FusedNTNetwork.from_network(net)
    spike_fns = [c.spike_fn for c in fused.modules() if hasattr(c, "spike_fn")]
    train(fused, t, cfg, val_data=v)
    # the band is gone after training: the model's spike functions are the ones it had
    assert [c.spike_fn for c in fused.modules() if hasattr(c, "spike_fn")] == spike_fns
    lib = [np.asarray(ls.weight) for ls in net.to_spec().layers]
    assert all(np.array_equal(a, b) for a, b in zip(weights, lib, strict=True))
    # a dense run is another run; its identity has no sparse_grad field (older runs resume)
    dense = d["dir"] / "dense.h5"
    assert main(_train_argv(d, dense)) == 0
    d_weights, d_info = _weights(dense)
    assert "sparse_grad" not in d_info.meta["run"]["settings"]["trainer"]
    assert not np.array_equal(d_weights[0], weights[0])
    # the same command again: nothing to do, the file untouched
    before = out.read_bytes()
    capsys.readouterr()
    assert main(argv) == 0
    assert "already the result of this run" in capsys.readouterr().out
    assert out.read_bytes() == before
    # another band into the same run directory is refused, naming the setting
    other = _train_argv(d, d["dir"] / "o.h5", "--sparse-grad", "0.5", "--run-dir",
                        str(d["dir"] / "sparse.run"))  # fmt: skip
    assert main(other) == 1
    assert "sparse_grad" in capsys.readouterr().err


def test_killed_sparse_run_resumes_to_the_uninterrupted_result(d, capsys, monkeypatch):
    import lava_nt.training as training

    ref = d["dir"] / "ref.h5"
    assert main(_train_argv(d, ref, "--sparse-grad", "0.5")) == 0
    out = d["dir"] / "killed.h5"
    real = training.train

    def killed(*a, **kw):
        real(*a, **kw, stop_after_epoch=1)
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", killed)
    assert main(_train_argv(d, out, "--sparse-grad", "0.5")) == 130
    monkeypatch.setattr(training, "train", real)
    capsys.readouterr()
    assert main(_train_argv(d, out, "--sparse-grad", "0.5")) == 0
    assert "resuming from the checkpoint" in capsys.readouterr().out
    (a, ia), (b, ib) = _weights(out), _weights(ref)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert ia.meta["history"] == ib.meta["history"]


def test_tune_with_sparse_grad_and_refusals(d, capsys):
    pre = d["dir"] / "pre.h5"
    assert main(_train_argv(d, pre)) == 0
    base = ["tune", str(pre), "--train", str(d["p_train"]), "--method", "nt2", "--epochs", "2",
            "--no-progress"]  # fmt: skip
    out = d["dir"] / "t.h5"
    assert main(base + ["--sparse-grad", "0.5", "--out", str(out)]) == 0
    _, info = _weights(out)
    assert info.meta["run"]["settings"]["trainer"]["sparse_grad"] == 0.5
    capsys.readouterr()
    rc = main(base + ["--sparse-grad", "0.5", "--qat", "--out", str(d["dir"] / "q.h5")])
    err = capsys.readouterr().err
    assert rc == 1 and "does not combine with --qat" in err
    for bad in ("0", "-1", "nan", "x"):
        with pytest.raises(SystemExit) as exc:
            main(base + ["--sparse-grad", bad, "--out", str(d["dir"] / "b.h5")])
        assert exc.value.code == 2
        assert "--sparse-grad" in capsys.readouterr().err


def test_config_and_personalise_checks():
    for bad in (0, -0.5, float("inf"), "0.5", True):
        with pytest.raises(ParameterError, match="sparse_grad"):
            TrainConfig(sparse_grad=bad)
    from lava_nt.builder import build_network
    from lava_nt.training import train

    x, y = torch.zeros(4, 4), torch.tensor([0, 1, 0, 1])
    cfg = TrainConfig(sparse_grad=0.5, compile=True, epochs=1, T=2, select="last")
    with pytest.raises(ParameterError, match="does not combine with sparse gradients"):
        train(build_network(4, [3], 2, 2, seed=0), (x, y), cfg)
    from lava_nt.personalise import personalise_batched
    from lava_nt.tuning import apply_tuning

    net = build_network(4, [3], 2, 2, seed=0)
    apply_tuning(net, ["nt2"], seed=0)
    with pytest.raises(ParameterError, match="give it once"):
        cfg = TrainConfig(sparse_grad=0.5, epochs=1, T=2, select="last")
        personalise_batched(net, [(x, y)], cfg, sparse_grad=0.3)


def test_help_shows_the_option(capsys):
    for cmd in ("train", "tune"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert "--sparse-grad B_TH" in capsys.readouterr().out
