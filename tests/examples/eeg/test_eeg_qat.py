"""QAT in the EEG example: a QAT model file deployed by ``deploy_qat_model`` runs on Lava fixed
point bit for bit as its training forward; the pooled fixed-minus-float interval is the textbook
paired t interval."""

import math

import numpy as np
import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.examples.eeg.deploy import deploy_model, deploy_qat_model
from lava_nt.examples.eeg.pipeline.qat import (
    fixed_float_gap,
    gap_markdown,
    gap_resolution,
    paired_interval,
)
from lava_nt.qat import QATNetwork
from lava_nt.training import TrainConfig, train
from lava_nt.tuning import apply_tuning


def test_deploy_qat_model_is_bit_exact_and_reports_agreement(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.random((40, 20)) < 0.4).astype(np.float32)
    y = rng.integers(0, 2, 40)
    net = build_network(20, [12], 2, 4, seed=1)
    apply_tuning(net, ["spiking_bias"], seed=0)
    qat = QATNetwork(net)
    cfg = TrainConfig(epochs=2, lr=1e-2, T=6, select="last")
    train(qat, (torch.as_tensor(x), torch.as_tensor(y)), cfg)
    path = tmp_path / "qat.h5"
    qat.save(path, meta={"n_classes": 2})
    float_row = deploy_model(net, x[:16], y[:16], T=6, fixed=False)
    row = deploy_qat_model(path, x[:16], y[:16], T=6, float_pred=float_row["lava_float_pred"])
    assert row["qat_status"] == "ok" and row["qat_bit_exact"] is True
    assert row["qat_train_deploy_agreement"] == 1.0
    with torch.no_grad():
        out = qat.forward_static(torch.as_tensor(x[:16], dtype=torch.float64), 6).numpy()
    pred = out.sum(0).reshape(16, 2, 4).sum(-1).argmax(-1)
    assert row["qat_lava_fixed_acc"] == pytest.approx(float(np.mean(pred == y[:16])))
    assert row["qat_vs_float_prediction_agreement"] == pytest.approx(
        float(np.mean(pred == np.asarray(float_row["lava_float_pred"])))
    )
    # a model file that is not a QAT model: the row says why, nothing raises
    from lava_nt.converters.model_file import save_model

    save_model(tmp_path / "plain.h5", net)
    bad = deploy_qat_model(tmp_path / "plain.h5", x[:4], y[:4], T=6)
    assert bad["qat_status"].startswith("unavailable")


def test_paired_interval_and_pooled_gap():
    d = [1.0, -2.0, 0.5, 3.0, 0.0]
    i = paired_interval(d)
    m, sd = np.mean(d), np.std(d, ddof=1)
    half = 2.7764451051977987 * sd / math.sqrt(5)  # t(0.975, 4)
    assert i["mean"] == pytest.approx(m) and i["low"] == pytest.approx(m - half)
    assert i["width"] == pytest.approx(2 * half)
    assert math.isnan(paired_interval([1.0])["width"])
    rows = [
        {"kind": "deploy", "method": "nt2", "lava_float_acc": 0.5, "lava_fixed_acc": 0.5,
         "qat_lava_fixed_acc": 0.75, "qat_bit_exact": True, "participant": 1},
        {"kind": "deploy", "method": "nt2", "lava_float_acc": 0.5, "lava_fixed_acc": 0.25,
         "qat_lava_fixed_acc": 0.5, "qat_bit_exact": True, "participant": 1},
        {"kind": "deploy", "method": "none", "lava_float_acc": 0.5, "lava_fixed_acc": 0.5,
         "participant": 2},
        {"kind": "tune", "method": "nt2", "test_acc": 0.9},
    ]  # fmt: skip
    gap = fixed_float_gap(rows)
    assert gap["ptq"]["all"]["n"] == 3 and gap["qat"]["all"]["n"] == 2
    assert gap["ptq"]["nt2"]["mean"] == pytest.approx(-12.5)
    assert gap["qat"]["nt2"]["mean"] == pytest.approx(12.5)
    assert gap["qat_bit_exact"] == {"units": 2, "bit_exact": 2}
    # over participants: participant 1's two units are one value (-12.5), participant 2's 0.0
    assert gap["ptq_by_participant"]["all"]["n"] == 2
    assert gap["ptq_by_participant"]["all"]["mean"] == pytest.approx(-6.25)
    assert gap["qat_by_participant"]["nt2"]["n"] == 1
    md = gap_markdown(gap)
    assert "| **all** | 3 |" in md and "bit-exact on Lava (every layer): 2/2" in md


def _interval(n, mean, width):
    return {"n": n, "mean": mean, "sd": 1.0, "low": mean - width / 2, "high": mean + width / 2,
            "width": width}  # fmt: skip


def test_gap_resolution_says_what_the_interval_resolves():
    gap = {
        "level": 0.95,
        "ptq": {"all": _interval(600, -0.2, 1.2)},
        "ptq_by_participant": {"all": _interval(20, -0.2, 2.0)},
        "qat": {"all": _interval(900, 0.3, 0.8)},
        "qat_by_participant": {"all": _interval(30, 0.3, 0.9)},
        "qat_bit_exact": {"units": 0, "bit_exact": 0},
    }
    lines = gap_resolution(gap)
    assert lines[0].startswith("Does fixed point lose more than 0.5 point")
    ptq, qat = lines[2], lines[3]
    # 600 units at width 1.2 need 600 * 1.2^2 = 864 for width 1; 20 participants at 2.0 need 80
    assert (
        "over 600 units is 1.20 points wide, not yet narrower than 1 point (about 864 units" in ptq
    )
    assert "over 20 participants 2.00 wide (about 80 participants for 1)" in ptq
    assert (
        "loss larger than 0.5 point is neither excluded nor shown (the interval reaches -0.80)"
        in ptq
    )
    assert "over 900 units is 0.80 points wide, narrower than 1 point;" in qat
    assert "over 30 participants 0.90 wide." in qat  # resolved there too: no count needed
    assert "is excluded (the interval's lower end -0.10 is above -0.5)" in qat
    gap["ptq"]["all"] = _interval(600, -1.0, 0.6)
    assert "is shown (the interval's upper end -0.70 is below -0.5)" in gap_resolution(gap)[2]
    assert "\n".join(lines) in gap_markdown(gap | {"ptq": {"all": _interval(600, -0.2, 1.2)}})
    assert gap_resolution({"ptq": {}, "qat": {}}) == []  # nothing pooled: nothing said


def test_pipeline_with_qat_tunes_deploys_and_reports_bit_exact(small_deap, tmp_path, capsys):
    from lava_nt.converters.model_file import load_model
    from lava_nt.examples.eeg import pipeline as pl
    from lava_nt.examples.eeg.pipeline import PipelineConfig, run_pipeline
    from lava_nt.examples.eeg.report import write_report

    cfg = PipelineConfig(methods=("none", "nt2"), seeds=(0,), participants=(1,), lava=True,
                         lava_samples=6, pretrain_epochs=2, tune_epochs=3, progress=False,
                         qat=True)  # fmt: skip
    run = tmp_path / "run"
    run_pipeline(run, cfg, data_dir=small_deap, log=lambda m: None, report=write_report)
    rows = pl.load_results(run)
    tune = {r["method"]: r for r in rows if r["kind"] == "tune"}
    dep = {r["method"]: r for r in rows if r["kind"] == "deploy"}
    assert "qat_test_acc" not in tune["none"] and "qat_status" not in dep["none"]
    t, d = tune["nt2"], dep["nt2"]
    assert d["qat_status"] == "ok" and d["qat_bit_exact"] is True
    assert d["qat_train_deploy_agreement"] == 1.0 and d["qat_lava_fixed_acc"] == d["qat_torch_acc"]
    qat_model = run / "units" / "p01" / "nt2" / "seed-0" / "qat" / "model.h5"
    _, info = load_model(qat_model)
    assert info.quantized is not None and info.meta["role"] == "tuned (QAT)"
    assert not sorted(run.rglob("*.pt"))  # the QAT trainer's checkpoints too, once recorded
    assert t["qat_epochs_run"] == len(info.meta["history"]) and t["qat_scales"]
    report = (run / "report" / "results.md").read_text()
    assert "Quantisation-aware tuning (`--qat`)" in report and "| nt2 | 1 |" in report
    assert "QAT models bit-exact on Lava (every layer): 1/1." in report
    assert "qat_bit_exact" in (run / "report" / "deploy.csv").read_text()
    # the run's identity records qat; the same run without it is another run
    assert pl.load_run_info(run)["config"]["qat"] is True
    with pytest.raises(pl.PipelineError, match="qat"):
        run_pipeline(run, PipelineConfig(**{**cfg.__dict__, "qat": False}), data_dir=small_deap,
                     log=lambda m: None)  # fmt: skip


def test_eeg_run_help_shows_qat(capsys):
    from lava_nt.cli import main

    with pytest.raises(SystemExit):
        main(["eeg", "run", "--help"])
    assert "--qat" in capsys.readouterr().out
