"""Baselines of the EEG study (readout-only, LoRA, per-person logistic regression), population
thresholds and the thread count fixed per unit, on tiny synthetic data."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lava_nt.examples.eeg import pipeline as pl
from lava_nt.examples.eeg.baselines import (
    LoRALinear,
    apply_lora,
    logistic_regression,
    lora_parameters,
    merge_adapters,
)
from lava_nt.examples.eeg.pipeline import PipelineConfig, PipelineError, run_pipeline
from lava_nt.examples.eeg.report import write_report

TINY = dict(pretrain_epochs=2, tune_epochs=3, progress=False)


def _quiet(_msg):
    pass


def _net(seed=0):
    return pl.build_arch("main", beta=0.9, seed=seed)


def test_lora_parameter_budget_and_identity_start():
    net = _net()
    x = (torch.rand(6, 160, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    with torch.no_grad():
        ref = net.forward_static(x, 25)
    n = apply_lora(net, rank=1, layers=(1,), seed=3)
    assert n == 1200 == lora_parameters([160, 400, 800, 100], 1, (1,))
    assert lora_parameters([160, 400, 800, 100], 1, (0, 1, 2)) == 560 + 1200 + 900
    assert isinstance(net.layers[1].linear, LoRALinear)
    trainable = sorted(k for k, p in net.named_parameters() if p.requires_grad)
    assert trainable == ["layers.1.linear.lora_a", "layers.1.linear.lora_b"]
    with torch.no_grad():
        assert torch.equal(net.forward_static(x, 25), ref)  # B = 0: the pretrained network
    with pytest.raises(Exception, match="already has an adapter"):
        apply_lora(net, layers=(1,))


def test_merge_adapters_folds_the_update_into_the_weights():
    net = _net()
    apply_lora(net, rank=2, layers=(0, 1), seed=0)
    with torch.no_grad():
        for layer in net.layers[:2]:
            layer.linear.lora_b.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(2))
    s = (torch.rand(3, 160, generator=torch.Generator().manual_seed(4)) < 0.5).float()
    with torch.no_grad():
        a_lora = net.layers[0].synaptic_input(s)
        w_expected = net.layers[1].linear.merged_weight().clone()
    merge_adapters(net)
    assert not any(isinstance(layer.linear, LoRALinear) for layer in net.layers)
    assert not any(p.requires_grad for p in net.parameters())
    with torch.no_grad():
        torch.testing.assert_close(net.layers[0].synaptic_input(s), a_lora)
    assert torch.equal(net.layers[1].linear.weight, w_expected)
    assert "lora" not in " ".join(net.state_dict())


def _td(x_train, y_train, x_val, y_val, x_test, y_test):
    split = SimpleNamespace(test_instances=np.arange(len(y_test)), n_augment=1)
    return SimpleNamespace(
        split=split, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, x_test=x_test,
        y_test=y_test,
    )  # fmt: skip


def test_logistic_regression_baseline():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    x = (rng.random((60, 160)) < 0.5).astype(np.uint8)
    x[:, :20] = y[:, None]  # 20 features say everything
    td = _td(x[:30], y[:30], x[30:40], y[30:40], x[40:], y[40:])
    r = logistic_regression(td, "val")
    assert r.acc["test"] == 1.0 and r.n_parameters == 161 and r.C in (0.01, 0.1, 1.0, 10.0)
    assert r.test_pred.tolist() == y[40:].tolist()
    assert logistic_regression(td, "last").C == 1.0
    one = _td(x[:5], np.ones(5, int), x[5:8], y[5:8], x[8:12], np.ones(4, int))
    assert logistic_regression(one, "val").acc["test"] == 1.0  # one class: predicts it


@pytest.fixture(scope="module")
def base_run(small_deap, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("eeg_baselines") / "run"
    cfg = PipelineConfig(
        methods=("none", "nt2", "readout", "lora", "logreg"), seeds=(0,), participants=(1,),
        lava=True, lava_fixed=False, lava_samples=2, **TINY,
    )  # fmt: skip
    run_pipeline(run_dir, cfg, data_dir=small_deap, log=_quiet, report=write_report)
    return run_dir


def test_baselines_run_as_methods(base_run):
    rows = pl.load_results(base_run)
    tune = {r["method"]: r for r in rows if r["kind"] == "tune"}
    assert {m: tune[m]["n_trainable"] for m in tune} == {
        "none": 0, "nt2": 1300, "readout": 80100, "lora": 1200, "logreg": 161,
    }  # fmt: skip
    for r in tune.values():
        # what the statistics need: the trial of each test instance and whether it was right
        assert len(r["test_trials"]) == len(r["test_correct"]) == r["n_test"] == 8
        assert np.mean(r["test_correct"]) == pytest.approx(r["test_acc"])
        assert r["threads"] == 1 and r["pretrain_seed"] == 0
        assert 1 <= r["test_distinct"] <= r["n_test"]
    assert all(r["threads"] == 1 for r in rows)  # every row: pretraining, tuning, deployment
    dep = {r["method"]: r for r in rows if r["kind"] == "deploy"}
    assert dep["logreg"]["deployable"] is False
    assert dep["lora"]["float_output_match"] == 1.0  # the merged LoRA model runs on Lava
    net, _ = pl.load_unit_model(base_run, 1, "lora", 0)
    assert not any(isinstance(layer.linear, LoRALinear) for layer in net.layers)
    with pytest.raises(PipelineError, match="not a spiking network"):
        pl.load_unit_model(base_run, 1, "logreg", 0)
    md = (base_run / "report" / "results.md").read_text()
    assert "| lora |" in md and "| logreg |" in md and "80,100" in md
    assert "## Statistics over participants" in md
    assert "nt2 - lora" in md and "nt2 - logreg" in md and "nt2 - readout" in md
    assert (base_run / "report" / "statistics.csv").read_text().startswith("kind,a,b")


def test_same_unit_whatever_the_callers_thread_count(base_run, monkeypatch):
    """The unit fixes torch's thread count to the run's setting: rows equal at 1 and 2."""
    from lava_nt.examples.eeg.pipeline import units

    pipe = units._pipeline_for(base_run, [1, 2, 3])
    group = units.fold_groups(pipe.data.pool, 1)[1]
    seen = []
    real = units._train

    def spy(*a, **k):
        seen.append(torch.get_num_threads())
        return real(*a, **k)

    monkeypatch.setattr(units, "_train", spy)
    old = torch.get_num_threads()
    rows = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            shutil.rmtree(pl.unit_dir(base_run, 1, "nt2", 0))
            rows.append(pipe.run_unit(1, "nt2", 0, group))
            assert torch.get_num_threads() == n  # the caller's setting is restored
    finally:
        torch.set_num_threads(old)
    assert seen == [1, 1]
    for r in rows:
        r.pop("seconds")
    assert rows[0] == rows[1] and rows[0]["threads"] == 1


def test_population_thresholds(small_deap, tmp_path):
    from lava_nt.examples.eeg.pipeline import units
    from lava_nt.examples.eeg.protocols import population_thresholds

    cfg = PipelineConfig(
        methods=("none",), seeds=(0,), participants=(1,), lava=False, thresholds="population",
        **TINY,
    )  # fmt: skip
    run_pipeline(tmp_path / "run", cfg, data_dir=small_deap, log=_quiet, report=False)
    td = pl.unit_data(tmp_path / "run", 1, 0)
    pipe = units._pipeline_for(tmp_path / "run", [1, 2, 3])
    np.testing.assert_array_equal(
        td.thresholds, population_thresholds([pipe.features[2], pipe.features[3]])
    )
    assert pl.load_run_info(tmp_path / "run")["config"]["thresholds"] == "population"
    # the default is not recorded (older run directories resume), and a change is refused
    other = PipelineConfig(methods=("none",), seeds=(0,), participants=(1,), lava=False, **TINY)
    assert "thresholds" not in other.identity()
    with pytest.raises(PipelineError, match="thresholds: 'population' -> 'person'"):
        run_pipeline(tmp_path / "run", other, data_dir=small_deap, log=_quiet)
    with pytest.raises(PipelineError, match="thresholds must be one of"):
        PipelineConfig(thresholds="global")
