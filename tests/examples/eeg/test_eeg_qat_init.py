"""``eeg run --qat --qat-init float``: each QAT unit fine-tunes the float unit's tuned model
through the fixed-point network (at most ``--qat-epochs``), so its deployment is paired with the
float model it came from."""

import numpy as np
import pytest

from lava_nt.converters.model_file import load_model
from lava_nt.examples.eeg import pipeline as pl
from lava_nt.examples.eeg.pipeline import PipelineConfig, PipelineError, run_pipeline


def _biases(spec):
    return np.concatenate([np.ravel(ls.neuron.bias) for ls in spec.layers])


@pytest.mark.parametrize("init", ["pretrained", "float"])
def test_qat_unit_starts_where_asked(small_deap, tmp_path, init):
    cfg = PipelineConfig(methods=("nt2",), seeds=(0,), participants=(1,), lava_samples=4,
                         lava_check=0, pretrain_epochs=2, tune_epochs=4, tune_lr=0.05,
                         progress=False, qat=True, qat_init=init, qat_epochs=1)  # fmt: skip
    run = tmp_path / "run"
    run_pipeline(run, cfg, data_dir=small_deap, log=lambda m: None, report=False)
    unit = run / "units" / "p01" / "nt2" / "seed-0"
    floated, _ = load_model(unit / "model.h5")
    qat_spec, info = load_model(unit / "qat" / "model.h5")
    assert info.meta["qat_init"] == init and len(info.meta["history"]) == 1  # qat_epochs
    pretrained, _ = load_model(run / "pretrained" / "without-p01" / "main" / "model.h5")
    d_float = np.abs(_biases(qat_spec) - _biases(floated)).mean()
    d_pre = np.abs(_biases(qat_spec) - _biases(pretrained)).mean()
    # one QAT epoch moves the biases less than four float epochs did: it stays near its start
    assert (d_float < d_pre) == (init == "float"), (d_float, d_pre)
    dep = [r for r in pl.load_results(run) if r["kind"] == "deploy"][0]
    assert dep["qat_status"] == "ok" and dep["qat_bit_exact"] is True


def test_qat_init_settings_are_checked():
    with pytest.raises(PipelineError, match="qat_init"):
        PipelineConfig(qat=True, qat_init="scratch")
    with pytest.raises(PipelineError, match="apply to QAT units"):
        PipelineConfig(qat_init="float")
    with pytest.raises(PipelineError, match="qat_epochs"):
        PipelineConfig(qat=True, qat_epochs=0)
    c = PipelineConfig(qat=True, qat_init="float", qat_epochs=20)
    assert c.identity()["qat_init"] == "float" and c.identity()["qat_epochs"] == 20
    assert "qat_init" not in PipelineConfig(qat=True).identity()  # old run directories resume
    assert "fine-tuning the float-tuned model, up to 20 epochs" in c.describe()
