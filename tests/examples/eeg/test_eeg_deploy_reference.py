"""``--lava-check``: the reference deployment mode gives the same accuracies and decisions as
running every sample on Lava, and its Lava check compares Lava with the reference engines."""

import numpy as np
import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.examples.eeg.deploy import LavaChecks, check_indices, deploy_model, deploy_qat_model
from lava_nt.examples.eeg.pipeline import PipelineConfig, PipelineError
from lava_nt.qat import QATNetwork
from lava_nt.training import TrainConfig, train
from lava_nt.tuning import apply_tuning

SAME = ("torch_acc", "torch64_acc", "lava_float_acc", "float_prediction_agreement",
        "float_prediction_agreement_f32", "lava_float_spikes", "lava_float_pred", "lava_fixed_acc",
        "fixed_vs_float_output_match", "fixed_vs_float_prediction_agreement", "lava_fixed_spikes",
        "quant_max_rel_error", "fixed_status")  # fmt: skip


def _data(n=24, n_in=20, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, n_in)) < 0.4).astype(np.float32), rng.integers(0, 2, n)


def test_reference_mode_equals_lava_mode(tmp_path):
    x, y = _data()
    net = build_network(20, [16, 12], 2, 4, seed=3)
    apply_tuning(net, ["spiking_bias"], seed=0)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # move the parameters so the output layer spikes
        for p in net.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=g))
    lava = deploy_model(net, x, y, T=8, save_spikes=tmp_path / "a.npz")
    ref = deploy_model(net, x, y, T=8, lava_check=3, save_spikes=tmp_path / "b.npz")
    none = deploy_model(net, x, y, T=8, lava_check=0)
    assert lava["deploy_engine"] == "lava" and ref["deploy_engine"] == "reference"
    assert lava["lava_float_spikes"] > 0 and lava["lava_fixed_spikes"] > 0
    assert lava["fixed_status"] == "ok" and lava["float_output_match"] == 1.0
    assert lava["fixed_emulator_match"] == 1.0
    for k in SAME:
        assert ref[k] == lava[k], k
        assert none[k] == lava[k], k
    assert ref["lava_check_samples"] == 3
    assert ref["lava_check_float_match"] == 1.0 and ref["lava_check_fixed_match"] == 1.0
    assert none["lava_check_samples"] == 0 and "lava_check_fixed_match" not in none
    assert "lava_float_seconds" not in none  # no Lava run at all
    assert "lava_check_seconds" not in none and "lava_check_runtimes" not in none
    assert ref["lava_check_runtimes"] == 1 and ref["lava_check_seconds"] > 0  # float + fixed
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    for k in ("lava_float", "lava_fixed", "pred_float", "pred_fixed", "index"):
        assert np.array_equal(a[k], b[k]), k
    with pytest.raises(ValueError, match="lava_check"):
        deploy_model(net, x, y, T=8, lava_check=-1)


def test_checks_fall_back_to_one_runtime_each(monkeypatch):
    """If the shared runtime fails, every check runs alone and a failure is its own check's:
    a failing fixed-point run marks ``fixed_status``, the float check still passes."""
    from lava_nt.examples.eeg import deploy as dp

    x, y = _data(n=12, seed=2)
    net = build_network(20, [10], 2, 3, seed=2)
    calls = []

    def shared_fails(*a, **k):
        calls.append("shared")
        raise RuntimeError("shared runtime failed")

    def fixed_fails(spec, x, precision, **k):
        calls.append(precision)
        if precision == "fixed":
            raise RuntimeError("fixed run failed")
        return dp.run_network.__wrapped_original__(spec, x, precision, **k)

    fixed_fails.__wrapped_original__ = dp.run_network
    monkeypatch.setattr(dp, "run_networks", shared_fails)
    monkeypatch.setattr(dp, "run_network", fixed_fails)
    row = deploy_model(net, x, y, T=6, lava_check=2)
    assert calls == ["shared", "float", "fixed"]
    assert row["lava_check_runtimes"] == 2 and row["lava_check_float_match"] == 1.0
    assert row["fixed_status"].startswith("unavailable (RuntimeError: fixed run failed")
    assert "lava_check_fixed_match" not in row and row["lava_fixed_acc"] is not None


def test_reference_mode_qat(tmp_path):
    x, y = _data(seed=1)
    net = build_network(20, [12], 2, 4, seed=1)
    apply_tuning(net, ["nt2"], seed=0)
    qat = QATNetwork(net)
    train(qat, (torch.as_tensor(x), torch.as_tensor(y)), TrainConfig(epochs=2, lr=1e-2, T=6,
                                                                      select="last"))  # fmt: skip
    path = tmp_path / "qat.h5"
    qat.save(path, meta={"n_classes": 2})
    lava = deploy_qat_model(path, x, y, T=6)
    ref = deploy_qat_model(path, x, y, T=6, lava_check=2)
    for k in ("qat_status", "qat_torch_acc", "qat_lava_fixed_acc", "qat_bit_exact",
              "qat_train_deploy_agreement", "qat_lava_fixed_spikes"):  # fmt: skip
        assert ref[k] == lava[k], k
    assert ref["qat_bit_exact"] is True and ref["qat_lava_check_match"] == 1.0
    assert lava["qat_lava_fixed_spikes"] > 0
    # queued with a float model's checks: one runtime for the three, same results
    plain = build_network(20, [12], 2, 4, seed=1)
    checks = LavaChecks()
    row = deploy_model(plain, x, y, T=6, lava_check=2, checks=checks)
    both = deploy_qat_model(path, x, y, T=6, lava_check=2, checks=checks)
    assert len(checks) == 3 and "lava_check_float_match" not in row
    assert checks.run()["lava_check_runtimes"] == 1 and len(checks) == 0
    assert row["lava_check_float_match"] == 1.0 and row["lava_check_fixed_match"] == 1.0
    assert both["qat_lava_check_match"] == 1.0 and both["qat_status"] == "ok"


def test_check_indices_and_config():
    assert check_indices(10, 3).tolist() == [0, 4, 9]  # round half to even: 4.5 -> 4
    assert check_indices(2, 5).tolist() == [0, 1]
    assert PipelineConfig(lava_check=0).lava_check == 0
    assert "lava_check" not in PipelineConfig(lava_check=4).identity()  # may change on resume
    with pytest.raises(PipelineError, match="lava_check"):
        PipelineConfig(lava_check=-2)


def test_pipeline_reference_mode_rows_and_report(small_deap, tmp_path):
    from lava_nt.examples.eeg import pipeline as pl
    from lava_nt.examples.eeg.pipeline import run_pipeline
    from lava_nt.examples.eeg.report import write_report

    run_dir = tmp_path / "run"
    cfg = PipelineConfig(methods=("nt2",), seeds=(0,), participants=(1,), lava_samples=4,
                         lava_check=1, pretrain_epochs=2, tune_epochs=2,
                         progress=False)  # fmt: skip
    run_pipeline(run_dir, cfg, data_dir=small_deap, log=lambda s: None, report=write_report)
    dep = [r for r in pl.load_results(run_dir) if r["kind"] == "deploy"]
    assert len(dep) == 1 and dep[0]["deploy_engine"] == "reference"
    assert dep[0]["fixed_status"] == "ok" and dep[0]["lava_check_samples"] == 1
    assert dep[0]["lava_check_float_match"] == 1.0 and dep[0]["lava_check_fixed_match"] == 1.0
    assert dep[0]["lava_check_runtimes"] == 1  # the float and fixed checks share one runtime
    text = (run_dir / "report" / "results.md").read_text()
    assert "Reference mode (`--lava-check`) for 1 of 1 deployments" in text
