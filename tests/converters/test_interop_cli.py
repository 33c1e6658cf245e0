"""``lava-nt export-nir`` / ``import-nir`` / ``import-netx`` (lava_nt.commands.interop)."""

import h5py
import nir
import numpy as np
import pytest

from lava_nt.cli import main
from lava_nt.converters.model_file import load_model, save_model
from lava_nt.converters.netx import export_netx
from lava_nt.network import LayerSpec, NetworkSpec, reference_run
from lava_nt.spec import ntlif_parameters
from lava_nt.testing import random_spec


def spec_with_bias(seed=0, subtract=False):
    """12 -> 10 -> 6 with gains, biases and a volumetric spiking bias on layer 0."""
    return random_spec(
        seed,
        (12, 10, 6),
        spiking_bias=("volumetric", None),
        resets=("subtract" if subtract else "zero", "zero"),
        du=(0.5, 1.0),
        dv=(0.2, 0.1),
        vth=(1.0, 0.9),
        gain=(None, 1.0),
        weight_scale=0.8,
    )


def x_in(n_in=12):
    return (np.random.default_rng(9).random((25, 8, n_in)) < 0.3).astype(np.float64)


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_export_then_import_nir_round_trip(tmp_path, capsys):
    spec = spec_with_bias(0)
    model = tmp_path / "model.h5"
    save_model(model, spec, meta={"seed": 0})
    code, out, err = run_cli(capsys, "export-nir", str(model), str(tmp_path / "net.nir"))
    assert code == 0 and "dt = 0.001 s" in out and err == ""
    assert isinstance(nir.read(tmp_path / "net.nir"), nir.NIRGraph)
    code, out, _ = run_cli(capsys, "import-nir", str(tmp_path / "net.nir"), str(tmp_path / "b.h5"))
    assert code == 0 and "lava-nt metadata (exact)" in out
    back, info = load_model(tmp_path / "b.h5")
    assert info.meta["nir_exact"] is True and info.meta["nir_dt"] == 0.001
    x = x_in()
    np.testing.assert_array_equal(reference_run(back, x), reference_run(spec, x))
    for la, lb in zip(spec.layers, back.layers, strict=True):
        np.testing.assert_array_equal(la.weight, lb.weight)
        np.testing.assert_array_equal(la.neuron.gain, lb.neuron.gain)
    # options: dt, no metadata; the import then derives the values from the NIR fields
    code, _, _ = run_cli(
        capsys, "export-nir", str(model), str(tmp_path / "d.nir"), "--dt", "0.5", "--no-metadata"
    )
    assert code == 0
    assert nir.read(tmp_path / "d.nir").metadata["dt"] == 0.5
    code, out, _ = run_cli(capsys, "import-nir", str(tmp_path / "d.nir"), str(tmp_path / "d.h5"))
    assert code == 0 and "derived from the NIR fields" in out
    derived = load_model(tmp_path / "d.h5")[0]
    np.testing.assert_array_equal(reference_run(derived, x), reference_run(spec, x))


def test_export_nir_reset_subtract_and_norse_compat(tmp_path, capsys):
    model = tmp_path / "sub.h5"
    save_model(model, spec_with_bias(1, subtract=True))
    code, _, err = run_cli(capsys, "export-nir", str(model), str(tmp_path / "s.nir"))
    assert code == 1 and "lava-nt export-nir: error:" in err and "subtraction" in err
    assert not (tmp_path / "s.nir").exists()
    code, _, _ = run_cli(
        capsys, "export-nir", str(model), str(tmp_path / "s.nir"), "--subtract-reset", "metadata"
    )
    assert code == 0
    code, _, _ = run_cli(capsys, "import-nir", str(tmp_path / "s.nir"), str(tmp_path / "s2.h5"))
    assert code == 0 and load_model(tmp_path / "s2.h5")[0].layers[0].neuron.reset_subtract
    code, _, err = run_cli(
        capsys, "export-nir", str(model), str(tmp_path / "n.nir"), "--norse-compat"
    )
    assert code == 1 and "norse" in err


def test_import_netx(tmp_path, capsys):
    rng = np.random.default_rng(3)
    spec = NetworkSpec(
        12,
        [
            LayerSpec(rng.normal(0, 0.5, (10, 12)), ntlif_parameters(10, du=0.5, dv=0.1)),
            LayerSpec(rng.normal(0, 0.5, (4, 10)), ntlif_parameters(4, du=1.0, dv=0.2, vth=0.8)),
        ],
    )
    res = export_netx(spec, tmp_path / "net.netx.h5")
    out_model = tmp_path / "imported.h5"
    code, out, err = run_cli(capsys, "import-netx", str(res.path), str(out_model))
    assert code == 0 and err == "" and "exact fixed point" in out
    fspec, info = load_model(out_model)
    assert not fspec.fixed and info.quantized is not None and info.quant_report.target == "netx"
    x = x_in()
    np.testing.assert_array_equal(reference_run(info.quantized, x), reference_run(res.spec, x))
    # integer units by default (thresholds = vThMant); --units threshold gives thresholds 1.0
    assert [float(ls.neuron.vth) for ls in fspec.layers] == [
        float(ls.neuron.vth) for ls in info.quantized.layers
    ]
    other = tmp_path / "thr.h5"
    assert run_cli(capsys, "import-netx", str(res.path), str(other), "--units", "threshold")[0] == 0
    assert all(float(ls.neuron.vth) == 1.0 for ls in load_model(other)[0].layers)
    code, _, err = run_cli(capsys, "import-netx", str(res.path), str(out_model))
    assert code == 1 and "--overwrite" in err
    code, _, _ = run_cli(capsys, "import-netx", str(res.path), str(out_model), "--overwrite")
    assert code == 0


@pytest.mark.parametrize("command", ["import-nir", "import-netx", "export-nir"])
def test_missing_and_corrupt_files(tmp_path, capsys, command):
    target = tmp_path / "out.h5"
    code, _, err = run_cli(capsys, command, str(tmp_path / "missing"), str(target))
    assert code == 1 and f"lava-nt {command}: error:" in err
    assert "does not exist" in err or "No such file" in err
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x89HDF junk" * 50)
    code, _, err = run_cli(capsys, command, str(junk), str(target))
    assert code == 1 and f"lava-nt {command}: error:" in err and "Traceback" not in err
    wrong = tmp_path / "wrong.h5"  # valid HDF5, wrong content
    with h5py.File(wrong, "w") as f:
        f.create_group("something")
    code, _, err = run_cli(capsys, command, str(wrong), str(target))
    assert code == 1 and f"lava-nt {command}: error:" in err
    assert not target.exists()


def test_import_netx_real_lava_dl_file_in_one_command(tmp_path, capsys):
    from lava_nt.converters.netx import NetxUnavailable, ensure_netx_reader

    try:
        side = ensure_netx_reader()
    except NetxUnavailable as exc:
        pytest.skip(f"lava-dl 0.6.0 is not available (offline?): {exc}")
    src = side / "tests" / "lava" / "lib" / "dl" / "netx" / "mnist.net"
    out = tmp_path / "mnist.h5"
    code, text, _ = run_cli(capsys, "import-netx", str(src), str(out), "--reduce", "mean")
    assert code == 0, text
    assert "readout: 10 units" in text and "x = round(76 * data)" in text
    spec, info = load_model(out)
    assert spec.input == "graded" and spec.readout.params.reduce == "mean"
    assert info.quantized.readout.params.i_decay == 0
    x = np.random.default_rng(0).integers(0, 77, (5, 2, 784))
    np.testing.assert_array_equal(
        reference_run(info.quantized, x), reference_run(info.quantized, x.astype(float))
    )
    assert np.abs(reference_run(spec, x)).max() > 0
