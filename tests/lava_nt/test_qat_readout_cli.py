"""``lava-nt tune --qat`` on a network that ends in a readout and on networks built for graded
(real-valued) input, through the real CLI, then ``lava-nt evaluate --engine lava-fixed``: the
model file's fixed-point network runs on Lava with every layer's spikes, the readout values and
the decisions of the QAT training forward (the command's own ``torch_qat`` reference).
"""

import pytest

from lava_nt.cli import main
from lava_nt.converters.model_file import load_model, save_model
from lava_nt.testing import random_spec

T = 8


CASES = {
    # name: (readout units or None, graded input, attach a quantisation with this input scale)
    "readout": (2, False, None),
    "graded": (None, True, None),
    "graded-readout-attached": (2, True, 10.0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tune_qat_then_lava_fixed_runs_the_training_forward(tmp_path, capsys, case, qat_checks):
    readout, graded, attached = CASES[case]
    spec = random_spec(
        3, (12, 10, 8), readout=readout, readout_reduce="mean", graded=graded,
        resets=("zero", "subtract"),
    )  # fmt: skip
    model = tmp_path / "pre.h5"
    save_model(model, spec, meta={"n_classes": 2})
    if attached is not None:
        assert main(["quantize", str(model), "--input-scale", str(attached), "--attach"]) == 0
    train = qat_checks.data(tmp_path / "train.npz", 40, 1, spec.n_in, T, graded)
    test = qat_checks.data(tmp_path / "test.npz", 24, 2, spec.n_in, T, graded)
    out = tmp_path / "tuned.h5"
    text = qat_checks.tune(capsys, model, train, out)
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
    qat_checks.evaluate(out, test, tmp_path / "res.json")
