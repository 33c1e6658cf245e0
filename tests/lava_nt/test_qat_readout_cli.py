"""``lava-nt tune --qat`` on a network that ends in a readout and on networks built for graded
(real-valued) input, through the real CLI, then ``lava-nt evaluate --engine lava-fixed``: the
model file's fixed-point network runs on Lava with every layer's spikes, the readout values and
the decisions of the QAT training forward (the command's own ``torch_qat`` reference).
"""

import json

import numpy as np
import pytest

from lava_nt.cli import main
from lava_nt.converters.model_file import load_model, save_model
from lava_nt.testing import random_spec

T = 8


def _data(path, n: int, seed: int, n_in: int, graded: bool):
    """Two classes: the first or the second half of the inputs is more active."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.where(y[:, None] == 1, np.linspace(0.1, 0.7, n_in), np.linspace(0.7, 0.1, n_in))
    x = rng.random((n, n_in)) * p * 1.5 if graded else (rng.random((n, n_in)) < p).astype(np.uint8)
    np.savez(path, x=x, y=y, T=np.int64(T))
    return str(path)


CASES = {
    # name: (readout units or None, graded input, attach a quantisation with this input scale)
    "readout": (2, False, None),
    "graded": (None, True, None),
    "graded-readout-attached": (2, True, 10.0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tune_qat_then_lava_fixed_runs_the_training_forward(tmp_path, capsys, case):
    readout, graded, attached = CASES[case]
    spec = random_spec(
        3, (12, 10, 8), readout=readout, readout_reduce="mean", graded=graded,
        resets=("zero", "subtract"),
    )  # fmt: skip
    model = tmp_path / "pre.h5"
    save_model(model, spec, meta={"n_classes": 2})
    if attached is not None:
        assert main(["quantize", str(model), "--input-scale", str(attached), "--attach"]) == 0
    train = _data(tmp_path / "train.npz", 40, 1, spec.n_in, graded)
    test = _data(tmp_path / "test.npz", 24, 2, spec.n_in, graded)
    out = tmp_path / "tuned.h5"
    argv = ["tune", str(model), "--train", train, "--method", "nt2", "--qat", "--epochs", "2",
            "--lr", "3e-2", "--no-progress", "--checkpoint-every", "0",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "bit for bit" in text and "NOT" not in text
    _, info = load_model(out)
    assert info.meta["qat_check"]["bit_exact"] is True
    q = info.meta["qat"]
    rep = info.quant_report
    if readout is not None:
        assert "the readout values" in text
        assert q["readout_scale"] == rep.readout.scale and info.quantized.readout is not None
    if graded:
        want = attached if attached is not None else 128.0  # data in [0, 1.05): 2**7
        assert q["input_scale"] == rep.input_scale == want
        assert f"round(x * {want:g})" in text
    res = tmp_path / "res.json"
    ev = ["evaluate", str(out), "--data", test, "--engine", "lava-fixed", "--out", str(res)]
    assert main(ev) == 0
    result = json.loads(res.read_text())
    assert result["qat"] is True and result["engine"] == "lava-fixed"
    ref = result["agreement"]["torch_qat"]
    assert ref["identical"] is True and ref["prediction_agreement"] == 1.0
    assert ref["output_match"] == 1.0 and all(m == 1.0 for m in ref["layer_match"])
    assert 0.0 < min(result["spike_rates"]) and max(result["spike_rates"]) < 1.0
