"""``lava-nt train`` / ``lava-nt tune`` with the gradient options ``--abstract`` /
``--abstract-matrix`` (abstracted gradients) and ``--sparse-grad`` (sparse spiking gradient
descent): the library result, the provenance, rerun and resume like every trainer option, and
clear refusals."""

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


# (CLI options, the same as TrainConfig fields, as recorded, another value for the same run dir)
OPTIONS = {
    "abstract": (
        ["--abstract", "1-1", "--abstract-matrix", "identity"],
        dict(abstract=[(1, 1)], abstract_matrix="identity"),
        {"abstract": [[1, 1]], "abstract_matrix": "identity"},
        (["--abstract", "1-1"], "abstract_matrix"),
    ),
    "sparse_grad": (
        ["--sparse-grad", "0.3"],
        dict(sparse_grad=0.3),
        {"sparse_grad": 0.3},
        (["--sparse-grad", "0.5"], "sparse_grad"),
    ),
}


@pytest.mark.parametrize("option", list(OPTIONS))
def test_train_with_the_option_is_the_library_run_and_recorded(d, capsys, option):
    from lava_nt.builder import build_network
    from lava_nt.nn.fused import FusedNTNetwork
    from lava_nt.training import train

    extra, cfg_kw, recorded, (other_extra, other_key) = OPTIONS[option]
    out = d["dir"] / f"{option}.h5"
    argv = _train_argv(d, out, *extra)
    assert main(argv) == 0
    weights, info = _weights(out)
    trainer = info.meta["run"]["settings"]["trainer"]
    assert {k: trainer[k] for k in recorded} == recorded
    tr, va = np.load(d["train"]), np.load(d["val"])
    net = build_network(12, [10, 8], 2, 4, seed=0)
    cfg = TrainConfig(epochs=3, lr=3e-3, T=8, select="val", seed=0, **cfg_kw)
    t = (torch.as_tensor(tr["x"], dtype=torch.float32), torch.as_tensor(tr["y"]))
    v = (torch.as_tensor(va["x"], dtype=torch.float32), torch.as_tensor(va["y"]))
    fused = FusedNTNetwork.from_network(net)
    spike_fns = [c.spike_fn for c in fused.modules() if hasattr(c, "spike_fn")]
    train(fused, t, cfg, val_data=v)
    # the option leaves nothing behind: the model's spike functions are the ones it had
    assert [c.spike_fn for c in fused.modules() if hasattr(c, "spike_fn")] == spike_fns
    lib = [np.asarray(ls.weight) for ls in net.to_spec().layers]
    assert all(np.array_equal(a, b) for a, b in zip(weights, lib, strict=True))
    # a plain run is another run; its identity lacks the option's fields (older runs resume)
    plain = d["dir"] / "plain.h5"
    assert main(_train_argv(d, plain)) == 0
    p_weights, p_info = _weights(plain)
    assert not set(recorded) & set(p_info.meta["run"]["settings"]["trainer"])
    assert not np.array_equal(p_weights[0], weights[0])
    # the same command again: nothing to do, file untouched
    before = out.read_bytes()
    capsys.readouterr()
    assert main(argv) == 0
    assert "already the result of this run" in capsys.readouterr().out
    assert out.read_bytes() == before
    # another value into the same run directory is refused, naming the setting
    other = _train_argv(d, d["dir"] / "o.h5", *other_extra, "--run-dir",
                        str(d["dir"] / f"{option}.run"))  # fmt: skip
    assert main(other) == 1
    assert other_key in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--abstract", "1-2"], ["--sparse-grad", "0.5"]])
def test_killed_run_resumes_to_the_uninterrupted_result(d, capsys, monkeypatch, extra):
    import lava_nt.training as training

    ref = d["dir"] / "ref.h5"
    assert main(_train_argv(d, ref, *extra)) == 0
    out = d["dir"] / "killed.h5"
    real = training.train

    def killed(*a, **kw):
        real(*a, **kw, stop_after_epoch=1)
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", killed)
    assert main(_train_argv(d, out, *extra)) == 130
    monkeypatch.setattr(training, "train", real)
    capsys.readouterr()
    assert main(_train_argv(d, out, *extra)) == 0
    assert "resuming from the checkpoint" in capsys.readouterr().out
    (a, ia), (b, ib) = _weights(out), _weights(ref)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert ia.meta["history"] == ib.meta["history"]


def test_tune_with_abstract_and_refusals(d, capsys):
    pre = d["dir"] / "pre.h5"
    assert main(_train_argv(d, pre)) == 0
    base = ["tune", str(pre), "--train", str(d["p_train"]), "--method", "nt2", "--epochs", "2",
            "--no-progress"]  # fmt: skip
    out = d["dir"] / "t.h5"
    assert main(base + ["--abstract", "1-1", "--out", str(out)]) == 0
    _, info = _weights(out)
    assert info.meta["run"]["settings"]["trainer"]["abstract"] == [[1, 1]]
    assert info.meta["run"]["settings"]["trainer"]["abstract_matrix"] == "derived"
    capsys.readouterr()
    for extra, code, msg in (
        (["--abstract", "1-1", "--qat"], 1, "does not combine with --qat"),
        (["--abstract", "0-1"], 1, "must start at layer 1 or later"),
        (["--abstract", "1-5"], 1, "the network has 3 layers"),
        (["--abstract", "1-1", "--abstract", "1-2"], 1, "overlap"),
        (["--abstract-matrix", "identity"], 1, "--abstract-matrix needs --abstract"),
        (["--abstract", "one-two"], 2, "a layer block is FIRST-LAST"),
    ):
        with pytest.raises(SystemExit) if code == 2 else _nothing() as exc:
            rc = main(base + extra + ["--out", str(d["dir"] / "bad.h5")])
        rc = exc.value.code if code == 2 else rc
        err = capsys.readouterr().err
        assert rc == code and msg in err, (extra, rc, err)
        if code == 1:
            assert len(err.strip().splitlines()) == 1, err


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


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_help_shows_the_options(capsys):
    for cmd in ("train", "tune"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        text = capsys.readouterr().out
        assert "--abstract FIRST-LAST" in text and "--abstract-matrix" in text
        assert "--sparse-grad B_TH" in text
