"""``lava-nt report`` on a saved model file: the table and valid JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lava_nt.cli import main
from lava_nt.converters.model_file import save_model
from lava_nt.hardware.report import hardware_report


@pytest.fixture
def model_file(tmp_path, spec342):
    path = tmp_path / "m.h5"
    save_model(path, spec342, meta={"n_classes": 2, "population": 1})
    return path


@pytest.fixture
def data_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=(rng.random((8, 3)) < 0.5).astype(float), y=rng.integers(0, 2, 8), T=10)
    return path


def test_report_table_and_json(model_file, data_file, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["report", str(model_file), "--data", str(data_file), "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "## Resources per layer (Loihi 1 mapping)" in text
    assert "| **total** | 6 (+2) | 12 | 16 |" in text
    assert "Davies et al." in text and "not measurements" in text
    assert "pre-silicon Loihi 1 figures" in text
    assert "## Activity per inference" in text and "10 steps" in text
    d = json.loads(out.read_text())
    tot = d["chips"]["Loihi 1"]["resources"]["total"]
    assert (tot["neurons"], tot["compartments"], tot["synapses"]) == (8, 12, 16)
    assert d["chips"]["Loihi 1"]["mapping"]["n_cores"] == 2
    assert d["chips"]["Loihi 2"]["resources"]["total"]["compartments"] == 8
    assert d["chips"]["Loihi 1"]["mapping"]["limits"]["compartments_per_core"] == 1024
    assert d["activity"]["T"] == 10 and d["activity"]["n_samples"] == 8
    # energy in the JSON equals the hand formula on its own counts
    e, a = d["energy"], d["activity"]
    syn = sum(la["synops"] for la in a["layers"])
    spk = sum(la["spikes"] + la["bias_spikes"] for la in a["layers"])
    assert e["total_pj"] == pytest.approx(syn * 23.6 + 12 * 10 * 81.0 + spk * 1.7)
    # the report function gives the same numbers
    rep = hardware_report(str(model_file))
    assert rep.resources["Loihi 1"].synapses == 16 and rep.activity is None


def test_report_json_stdout_and_analog(model_file, data_file, tmp_path, capsys):
    png = tmp_path / "a.png"
    rc = main(
        [
            "report",
            str(model_file),
            "--data",
            str(data_file),
            "--json",
            "-",
            "--analog",
            "--dac-bits",
            "4",
            "--plot",
            str(png),
        ]  # fmt: skip
    )
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d["analog"]["accuracy"]) == {"tuned", "domain", "voltage", "dac"}
    assert d["analog"]["mapping"]["dac_bits"] == 4
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_report_without_data(model_file, capsys):
    assert main(["report", str(model_file)]) == 0
    text = capsys.readouterr().out
    assert "Loihi 1: 2 cores" in text and "Activity per inference" not in text


def test_report_errors(model_file, tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.h5")]) == 1
    assert "lava-nt report: error" in capsys.readouterr().err
    out = tmp_path / "exists.json"
    out.write_text("{}")
    assert main(["report", str(model_file), "--json", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["report", str(model_file), "--json", str(out), "--overwrite"]) == 0
    assert json.loads(out.read_text())["sizes"] == [3, 4, 2]


def test_report_fixed_point_model_and_precision(spec342):
    from lava_nt.converters.quantize import quantize

    fixed, _ = quantize(spec342)
    rng = np.random.default_rng(3)
    x = (rng.random((10, 4, 3)) < 0.5).astype(float)
    rep = hardware_report(fixed, x)
    assert rep.bits_source == "the model (fixed point)"
    assert rep.resources["Loihi 1"].synapses == 16
    assert "fixed point" in rep.activity.engine
    rep = hardware_report(spec342, x, precision="fixed")
    assert "fixed point" in rep.activity.engine
    json.loads(rep.to_json())
