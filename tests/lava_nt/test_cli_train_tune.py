"""``lava-nt train`` and ``lava-nt tune`` through the real CLI entry point, in process.

Checked: the commands build, train and tune on ``.npz`` data and write model files whose
networks equal an independent library run; a rerun of a finished command writes nothing; a run
killed after an epoch resumes to exactly the uninterrupted result; other settings in the same
run directory or output are refused until ``--overwrite``; every bad data file or option ends
with exit status 1 (or argparse's 2) and one line naming the problem.
"""

import numpy as np
import pytest
import torch

from lava_nt.cli import build_parser, main
from lava_nt.converters.model_file import load_model, save_model
from lava_nt.network import LayerSpec, NetworkSpec
from lava_nt.spec import fixed_ntlif_parameters


def _data(path, n, seed, shift=0.0, T=8, static=True):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.where(y[:, None] == 1, np.linspace(0.1, 0.6, 12) + shift, np.linspace(0.6, 0.1, 12))
    if static:
        x = (rng.random((n, 12)) < np.clip(p, 0, 1)).astype(np.uint8)
        np.savez(path, x=x, y=y, T=np.int64(T))
    else:
        x = (rng.random((T, n, 12)) < np.clip(p, 0, 1)[None]).astype(np.uint8)
        np.savez(path, x=x, y=y)
    return path


@pytest.fixture()
def d(tmp_path):
    return {
        "dir": tmp_path,
        "train": _data(tmp_path / "train.npz", 96, 1),
        "val": _data(tmp_path / "val.npz", 40, 2),
        "p_train": _data(tmp_path / "p_train.npz", 48, 3, shift=0.1),
        "p_val": _data(tmp_path / "p_val.npz", 32, 4, shift=0.1),
        "seq": _data(tmp_path / "seq.npz", 40, 5, static=False),
    }


def _train_argv(d, out, *extra):
    return ["train", "--data", str(d["train"]), "--val", str(d["val"]), "--hidden", "10",
            "--population", "4", "--epochs", "3", "--lr", "3e-3", "--out", str(out),
            "--no-progress", "--checkpoint-every", "0", *extra]  # fmt: skip


def _arrays(path):
    spec, info = load_model(path)
    out = []
    for ls in spec.layers:
        out += [np.asarray(ls.weight), np.asarray(ls.neuron.bias), np.asarray(ls.neuron.gain)]
        if ls.spiking_bias is not None:
            out += [np.asarray(ls.spiking_bias.w_in), np.asarray(ls.spiking_bias.params.w_b)]
    return out, info


def _same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b, strict=True)) and len(a) == len(b)


def test_commands_are_registered_and_tune_help_shows_qat(capsys):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert {"train", "tune", "evaluate"} <= set(sub.choices)
    with pytest.raises(SystemExit) as exc:
        main(["tune", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "--qat" in text and "bit for bit" in text and "--method" in text


def test_train_writes_the_library_result_and_a_rerun_writes_nothing(d, capsys):
    from lava_nt.builder import build_network
    from lava_nt.nn.fused import FusedNTNetwork
    from lava_nt.training import TrainConfig, train

    out = d["dir"] / "pre.h5"
    assert main(_train_argv(d, out)) == 0
    text = capsys.readouterr().out
    assert "model written to" in text and "lava-nt tune" in text and "lava-nt evaluate" in text
    arrays, info = _arrays(out)
    assert info.n_classes == 2 and info.population == 4 and info.sizes == [12, 10, 8]
    assert info.meta["run"]["command"] == "train" and len(info.meta["history"]) == 3
    # the same training with the library, independently
    tr, va = np.load(d["train"]), np.load(d["val"])
    net = build_network(12, [10], 2, 4, seed=0)
    cfg = TrainConfig(epochs=3, lr=3e-3, T=8, select="val", seed=0)
    t = (torch.as_tensor(tr["x"], dtype=torch.float32), torch.as_tensor(tr["y"]))
    v = (torch.as_tensor(va["x"], dtype=torch.float32), torch.as_tensor(va["y"]))
    train(FusedNTNetwork.from_network(net), t, cfg, val_data=v)
    lib = []
    for ls in net.to_spec().layers:
        lib += [np.asarray(ls.weight), np.asarray(ls.neuron.bias), np.asarray(ls.neuron.gain)]
    assert _same(arrays, lib)
    # finished: the same command again does not train and leaves the file untouched
    before = out.read_bytes()
    assert main(_train_argv(d, out)) == 0
    assert "already the result of this run" in capsys.readouterr().out
    assert out.read_bytes() == before


def test_killed_run_resumes_to_the_uninterrupted_result(d, capsys, monkeypatch):
    import lava_nt.training as training

    ref = d["dir"] / "ref.h5"
    assert main(_train_argv(d, ref)) == 0
    out = d["dir"] / "killed.h5"
    real = training.train

    def killed(*a, **kw):
        real(*a, **kw, stop_after_epoch=1)  # epochs 0 and 1 done and checkpointed
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", killed)
    assert main(_train_argv(d, out)) == 130
    assert not out.exists() and (d["dir"] / "killed.run" / "checkpoint.pt").exists()
    monkeypatch.setattr(training, "train", real)
    capsys.readouterr()
    assert main(_train_argv(d, out)) == 0
    assert "resuming from the checkpoint" in capsys.readouterr().out
    assert _same(_arrays(out)[0], _arrays(ref)[0])
    assert _arrays(out)[1].meta["history"] == _arrays(ref)[1].meta["history"]


def test_other_settings_are_refused_until_overwrite(d, capsys):
    out = d["dir"] / "pre.h5"
    assert main(_train_argv(d, out)) == 0
    capsys.readouterr()
    # another learning rate into the same output: refused, naming the difference
    assert main(_train_argv(d, out, "--lr", "1e-2")) == 1
    err = capsys.readouterr().err
    assert "exists and is not the result of this run" in err and "--overwrite" in err
    # the same run directory with other settings (another output): refused, naming lr
    other = d["dir"] / "other.h5"
    assert main(_train_argv(d, other, "--lr", "1e-2", "--run-dir", str(d["dir"] / "pre.run"))) == 1
    err = capsys.readouterr().err
    assert "holds a run with other settings" in err and "lr: 0.003 -> 0.01" in err
    # other data is another run too
    argv = _train_argv(d, other, "--run-dir", str(d["dir"] / "pre.run"))
    argv[argv.index("--data") + 1] = str(d["p_train"])
    assert main(argv) == 1 and "inputs.train" in capsys.readouterr().err
    # --overwrite starts over and replaces the output
    before = out.read_bytes()
    assert main(_train_argv(d, out, "--lr", "1e-2", "--overwrite")) == 0
    assert out.read_bytes() != before
    assert load_model(out)[1].meta["run"]["settings"]["trainer"]["lr"] == 0.01


@pytest.mark.parametrize("method", [["nt2"], ["nt1", "nt2"], ["spiking_bias"], ["volumetric"]])
def test_tune_float_and_qat_write_model_files(d, capsys, method):
    pre = d["dir"] / "pre.h5"
    assert main(_train_argv(d, pre)) == 0
    extra = ["--group-size", "2"] if method == ["volumetric"] else []
    base = ["tune", str(pre), "--train", str(d["p_train"]), "--val", str(d["p_val"]),
            "--method", *method, "--epochs", "2", "--no-progress", *extra]  # fmt: skip
    pre_arrays = _arrays(pre)[0]
    for qat in (False, True):
        out = d["dir"] / f"tuned-{qat}.h5"
        assert main(base + ["--out", str(out)] + (["--qat"] if qat else [])) == 0
        text = capsys.readouterr().out
        assert "lava-nt evaluate" in text and "--engine lava-fixed" in text
        spec, info = load_model(out)
        assert info.tuning_methods == method and info.meta["role"] == "tuned"
        assert info.meta["tuned_from"]["path"] == str(pre)
        for k, ls in enumerate(spec.layers):  # frozen weights stay exactly the pretrained ones
            assert np.array_equal(np.asarray(ls.weight), pre_arrays[3 * k])
        if qat:
            assert "bit for bit" in text and info.meta["qat_check"]["bit_exact"] is True
            assert info.quantized is not None and isinstance(info.meta["qat"], dict)
        else:
            assert info.quantized is None


def test_tune_on_spike_sequences_and_an_imported_style_model(d, capsys):
    # a model saved from a spec (as import-nir/import-netx write): no trainable flags, no n_classes
    rng = np.random.default_rng(0)
    from lava_nt.spec import ntlif_parameters

    layer = LayerSpec(rng.normal(0, 0.4, (8, 12)), ntlif_parameters(8, du=1.0, dv=0.2))
    spec = NetworkSpec(12, [layer])
    model = d["dir"] / "imported.h5"
    save_model(model, spec)
    argv = ["tune", str(model), "--train", str(d["seq"]), "--method", "nt2", "--epochs", "2",
            "--no-progress", "--out", str(d["dir"] / "t.h5")]  # fmt: skip
    assert main(argv) == 1
    assert "pass --n-classes" in capsys.readouterr().err
    assert main(argv + ["--n-classes", "2"]) == 1  # a network built without biases
    assert "additive_bias" in capsys.readouterr().err
    argv[argv.index("nt2")] = "additive_bias"
    assert main(argv + ["--n-classes", "2", "--qat"]) == 0
    _, info = load_model(d["dir"] / "t.h5")
    assert info.meta["T"] == 8 and info.meta["qat_check"]["bit_exact"] is True


def test_bad_data_and_options_end_in_one_line(d, capsys):
    pre = d["dir"] / "pre.h5"
    assert main(_train_argv(d, pre)) == 0
    capsys.readouterr()
    bad = d["dir"]
    np.savez(bad / "nolabels.npz", x=np.zeros((10, 12), np.uint8), T=np.int64(5))
    np.savez(bad / "graded.npz", x=np.full((10, 12), 0.5), y=np.zeros(10, np.int64), T=5)
    np.savez(bad / "wide.npz", x=np.zeros((10, 13), np.uint8), y=np.zeros(10, np.int64), T=5)
    np.savez(bad / "label9.npz", x=np.zeros((10, 12), np.uint8), y=np.full(10, 9), T=5)
    np.savez(bad / "float_y.npz", x=np.zeros((10, 12), np.uint8), y=np.zeros(10), T=5)
    np.savez(bad / "oneclass.npz", x=np.zeros((10, 12), np.uint8), y=np.zeros(10, np.int64), T=5)
    (bad / "text.npz").write_text("not an archive")
    fixed = NetworkSpec(12, [LayerSpec(np.zeros((8, 12), np.int64),
                                       fixed_ntlif_parameters(8, du=4095, dv=100, vth=10))],
                        fixed=True)  # fmt: skip
    save_model(bad / "fixed.h5", fixed, meta={"n_classes": 2})
    tune = ["tune", str(pre), "--method", "nt2", "--epochs", "1", "--no-progress",
            "--out", str(bad / "t.h5")]  # fmt: skip
    cases = [
        (tune + ["--train", str(bad / "nolabels.npz")], "has no labels 'y'"),
        (tune + ["--train", str(bad / "graded.npz")], "graded values"),
        (tune + ["--train", str(bad / "wide.npz")], "the model expects 12"),
        (tune + ["--train", str(bad / "label9.npz")], "outside the model's 2 classes"),
        (tune + ["--train", str(bad / "float_y.npz")], "class labels must be integers"),
        (tune + ["--train", str(bad / "text.npz")], "not an .npz archive"),
        (tune + ["--train", str(bad / "missing.npz")], "does not exist"),
        (tune + ["--train", str(d["p_train"]), "--select", "val"], "--select val needs"),
        (tune + ["--train", str(d["p_train"]), "--patience", "3"], "--patience needs"),
        (tune + ["--train", str(d["p_train"]), "--target", "netx"], "add --qat"),
        (tune + ["--train", str(d["p_train"]), "--qat", "--target", "netx", "--method", "nt1"],
         "netx has no gains"),
        (tune + ["--train", str(d["p_train"]), "--layers", "5"], "layer 5 does not exist"),
        (["tune", str(bad / "fixed.h5"), "--train", str(d["p_train"]), "--method", "nt2",
          "--out", str(bad / "t.h5")], "only a fixed-point network"),
        (["tune", str(bad / "text.npz"), "--train", str(d["p_train"]), "--method", "nt2",
          "--out", str(bad / "t.h5")], "text.npz"),
        (_train_argv(d, bad / "x.h5")[:2] + [str(bad / "nolabels.npz"), "--out",
                                              str(bad / "x.h5")], "has no labels 'y'"),
        (_train_argv(d, bad / "x.h5", "--classes", "1"), "--classes must be at least 2"),
        (_train_argv(d, bad / "nodir" / "x.h5"), "does not exist"),
        (_train_argv(d, bad / "x.h5")[:2] + [str(bad / "oneclass.npz"), "--out",
                                              str(bad / "x.h5")], "one class only"),
    ]  # fmt: skip
    for argv, msg in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1, (argv, err)
        assert "Traceback" not in err
    assert not (bad / "t.h5").exists()
    # argparse refuses malformed numbers and unknown methods (exit status 2)
    for argv in (tune + ["--train", str(d["p_train"]), "--epochs", "0"],
                 tune + ["--train", str(d["p_train"]), "--lr", "nan"],
                 tune + ["--train", str(d["p_train"]), "--method", "nt3"],
                 tune + ["--train", str(d["p_train"]), "--input-sparsity", "1.5"]):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        capsys.readouterr()
