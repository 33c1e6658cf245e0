"""Output coding and labels at the boundaries: imports record ``--n-classes``/``--population``,
commands refuse to guess an unknown class count, labels outside the model's classes are errors
that name the file and the count, ``TrainConfig`` takes the class count (and, for NT methods, the
tuning learning rate) from the model, and export errors name the CLI option that fixes a
subtractive reset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.cli import main
from lava_nt.converters.model_file import load_model, save_model
from lava_nt.spec.validation import ParameterError
from lava_nt.training import PRETRAIN_LR, TUNE_LR, TrainConfig, evaluate, for_model, train
from lava_nt.tuning import apply_tuning

N_IN, CLASSES, POP = 6, 3, 2


@pytest.fixture
def files(tmp_path):
    """A 3-class zero-reset model, its NIR export, and data with labels 0..2 and with a 3."""
    net = build_network(N_IN, [5], CLASSES, POP, reset="zero", seed=1)
    model = save_model(tmp_path / "m.h5", net)
    assert main(["export-nir", str(model), str(tmp_path / "m.nir")]) == 0
    rng = np.random.default_rng(0)
    x = (rng.random((12, N_IN)) < 0.5).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(12) % 3, T=np.int64(5))
    np.savez(tmp_path / "bad.npz", x=x, y=np.arange(12) % 4, T=np.int64(5))
    return tmp_path


def test_import_without_coding_makes_commands_ask_for_n_classes(files, capsys):
    assert main(["import-nir", str(files / "m.nir"), str(files / "plain.h5")]) == 0
    assert "output coding unknown" in capsys.readouterr().out
    assert load_model(files / "plain.h5")[1].n_classes is None
    model, data = str(files / "plain.h5"), str(files / "d.npz")
    for argv in (["evaluate", model, "--data", data, "--engine", "torch"],
                 ["report", model, "--data", data],
                 ["tune", model, "--train", data, "--method", "nt1", "--out",
                  str(files / "t.h5")]):  # fmt: skip
        capsys.readouterr()
        assert main(argv) == 1, argv[0]
        err = capsys.readouterr().err
        assert "pass --n-classes N" in err and "plain.h5" in err, (argv[0], err)
    # the same command with the option works
    assert main(["evaluate", model, "--data", data, "--engine", "torch", "--n-classes", "3"]) == 0


def test_import_records_n_classes_and_population(files, capsys):
    out = files / "coded.h5"
    assert main(["import-nir", str(files / "m.nir"), str(out), "--n-classes", "3"]) == 0
    assert "3 classes x 2 neurons" in capsys.readouterr().out
    info = load_model(out)[1]
    assert (info.n_classes, info.population) == (CLASSES, POP)
    assert main(["evaluate", str(out), "--data", str(files / "d.npz"), "--engine", "torch"]) == 0
    # a coding that does not fit the 6 outputs is refused, naming the options
    for extra in (["--n-classes", "4"], ["--n-classes", "2", "--population", "2"],
                  ["--population", "2"]):  # fmt: skip
        capsys.readouterr()
        argv = ["import-nir", str(files / "m.nir"), str(files / "x.h5"), *extra, "--overwrite"]
        assert main(argv) == 1, extra
        assert "--population" in capsys.readouterr().err or extra[1] == "4"


def test_labels_outside_the_classes_are_errors_naming_file_and_count(files, capsys):
    coded = files / "coded.h5"
    assert main(["import-nir", str(files / "m.nir"), str(coded), "--n-classes", "3"]) == 0
    bad = str(files / "bad.npz")
    for argv in (["evaluate", str(coded), "--data", bad, "--engine", "torch"],
                 ["report", str(coded), "--data", bad],
                 ["tune", str(coded), "--train", bad, "--method", "nt1", "--out",
                  str(files / "t.h5")]):  # fmt: skip
        capsys.readouterr()
        assert main(argv) == 1, argv[0]
        err = capsys.readouterr().err
        assert "bad.npz" in err and "label 3" in err and "3 classes" in err, (argv[0], err)


def _task(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, N_IN, generator=g) < 0.5).float()
    return x, torch.arange(n) % CLASSES


def test_train_config_takes_the_class_count_from_the_model():
    net = build_network(N_IN, [5], CLASSES, POP)
    cfg = for_model(TrainConfig(epochs=1, T=4), net)
    assert cfg.n_classes == CLASSES and cfg.lr == PRETRAIN_LR
    x, y = _task()
    res = train(net, (x, y), TrainConfig(epochs=1, T=4, select="last"))  # 3 classes, no option
    assert len(res.history) == 1 and 0.0 <= evaluate(net, x, y)["acc"] <= 1.0
    with pytest.raises(ParameterError, match=r"TrainConfig\(n_classes=2\) but the model has 3"):
        train(net, (x, y), TrainConfig(epochs=1, T=4, n_classes=2, select="last"))
    with pytest.raises(ParameterError, match=r"label 3 is outside the model's 3 classes"):
        train(net, (x, y + 1), TrainConfig(epochs=1, T=4, select="last"))
    with pytest.raises(ParameterError, match=r"evaluate: label -1 is outside"):
        evaluate(net, x, y - 1)
    plain = torch.nn.Sequential(torch.nn.Linear(N_IN, 6))  # says nothing about its classes
    with pytest.raises(ParameterError, match=r"pass TrainConfig\(n_classes=N\)"):
        for_model(TrainConfig(), plain)
    assert for_model(TrainConfig(n_classes=3), plain).n_classes == 3


def test_tuning_learning_rate_default_follows_what_is_trained():
    net = build_network(N_IN, [5], CLASSES, POP)
    apply_tuning(net, "nt2")
    assert for_model(TrainConfig(), net).lr == TUNE_LR
    assert for_model(TrainConfig(lr=1e-4), net).lr == 1e-4  # an explicit rate is kept
    fine = build_network(N_IN, [5], CLASSES, POP)
    apply_tuning(fine, "tft")
    assert for_model(TrainConfig(), fine).lr == PRETRAIN_LR


def test_subtractive_reset_export_errors_name_the_cli_option(tmp_path, capsys):
    model = save_model(tmp_path / "s.h5", build_network(N_IN, [5], CLASSES, POP))
    assert main(["export-nir", str(model), str(tmp_path / "s.nir")]) == 1
    assert "--subtract-reset metadata" in capsys.readouterr().err
    assert main(["export-nir", str(model), str(tmp_path / "s.nir"), "--norse-compat"]) == 1
    assert "--reset zero" in capsys.readouterr().err
    assert main(["export-netx", str(model), str(tmp_path / "s.net")]) == 1
    assert "lava-nt train --reset zero" in capsys.readouterr().err
    argv = ["export-nir", str(model), str(tmp_path / "s.nir"), "--subtract-reset", "metadata"]
    assert main(argv) == 0
    # the Python API names its keyword
    from lava_nt.converters.nir_io import NIRExportError, export_nir

    with pytest.raises(NIRExportError, match="subtract_reset='metadata'"):
        export_nir(model, tmp_path / "p.nir")


def test_train_notes_the_reset_and_takes_reset_zero(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = (rng.random((16, N_IN)) < 0.5).astype(np.uint8)
    np.savez(tmp_path / "tr.npz", x=x, y=np.arange(16) % 2, T=np.int64(4))
    base = ["train", "--data", str(tmp_path / "tr.npz"), "--hidden", "4", "--epochs", "1",
            "--no-progress"]  # fmt: skip
    assert main([*base, "--out", str(tmp_path / "s.h5")]) == 0
    assert "--subtract-reset metadata" in capsys.readouterr().out
    assert main([*base, "--reset", "zero", "--out", str(tmp_path / "z.h5")]) == 0
    assert "--subtract-reset" not in capsys.readouterr().out
    spec = load_model(tmp_path / "z.h5")[0]
    assert not any(ls.neuron.reset_subtract for ls in spec.layers)
    assert main(["export-netx", str(tmp_path / "z.h5"), str(tmp_path / "z.net")]) == 0
