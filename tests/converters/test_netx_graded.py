"""netx export of graded-input networks: lava-dl's bias-encoded Input block.

Proofs:
* a float graded network whose first layer is the Input block (identity weights, du = 1, no
  bias) is written as lava-dl writes an Input block (``layer/0`` with a CUBA neuron group,
  iDecay 4096, the transform weight = the input scale); ``import_netx`` of the file gives back the
  exported fixed-point network register for register, and both run identically (every layer and
  the readout trace) on ``round(S * data)``;
* lava-dl's own netx loader runs the file with the same spikes at every layer and the same
  readout trace as Lava fixed point on the imported network and as the emulator;
* lava-dl's real ``mnist.net`` (Input block, two layers, readout) imported, exported and
  imported again is the same network, and the exported file holds lava-dl's own values;
* what netx cannot hold (a graded first layer that is a weight matrix, a fractional input
  scale) is refused with the reason, through the API and ``lava-nt export-netx``.
"""

import h5py
import numpy as np
import pytest

from lava_nt.cli import main
from lava_nt.converters.lava_graph import run_network
from lava_nt.converters.model_file import load_model, save_model
from lava_nt.converters.netx import (
    NetxUnavailable,
    StockLavaError,
    ensure_netx_reader,
    export_netx,
    import_netx,
    netx_compatible,
    run_netx,
)
from lava_nt.converters.quantize import quantize
from lava_nt.network import LayerSpec, NetworkSpec, reference_run
from lava_nt.nn.fixed_emulator import emulate_fixed
from lava_nt.spec import ntlif_parameters
from lava_nt.spec.fixed import dense_effective_weights
from lava_nt.spec.readout import ReadoutSpec, readout_parameters
from lava_nt.testing import random_input, random_spec


def input_block_spec(seed: int = 0, n_in: int = 8) -> NetworkSpec:
    """graded 8 -> Input block (8, identity, du = 1, dv = 0.25, vth = 0.8) -> 12 -> readout 3."""
    rng = np.random.default_rng(seed)
    hidden = random_spec(seed, (n_in, 12), du=0.5, dv=0.1, vth=1.0, weight_scale=1.0,
                         weight_mean=0.2).layers[0]  # fmt: skip
    first = LayerSpec(np.eye(n_in), ntlif_parameters(n_in, du=1.0, dv=0.25, vth=0.8))
    ro = ReadoutSpec(
        rng.normal(0, 0.5, (3, 12)),
        readout_parameters(3, du=0.0, dv=1.0, bias=rng.normal(0, 0.05, 3), reduce="mean"),
    )
    return NetworkSpec(n_in, [first, hidden], readout=ro, input="graded")


def unit_weights(ls) -> np.ndarray:
    """What each input adds to ``u >> 6`` (Lava's effective weight times 2**weight_exp): the same
    network may hold it as (2, exponent -1) or (1, exponent 0)."""
    return dense_effective_weights(np.asarray(ls.weight)) * 2.0 ** int(ls.weight_exp)


def assert_same_fixed(a: NetworkSpec, b: NetworkSpec) -> None:
    """The same fixed-point network: effective weights, every neuron and readout register."""
    assert a.fixed and b.fixed and a.sizes == b.sizes and a.input == b.input == "graded"
    for k, (la, lb) in enumerate(zip(a.layers, b.layers, strict=True)):
        np.testing.assert_array_equal(unit_weights(la), unit_weights(lb), err_msg=f"layer {k}")
        for f in ("du", "dv", "vth"):
            assert int(getattr(la.neuron, f)) == int(getattr(lb.neuron, f)), (k, f)
        for f in ("bias_mant", "bias_exp", "gain_mant"):
            np.testing.assert_array_equal(
                np.broadcast_to(getattr(la.neuron, f), (la.n,)),
                np.broadcast_to(getattr(lb.neuron, f), (lb.n,)),
            )
    ra, rb = a.readout, b.readout
    assert (ra is None) == (rb is None)
    if ra is not None:
        np.testing.assert_array_equal(unit_weights(ra), unit_weights(rb))
        for f in ("i_decay", "v_decay", "bias_mant", "bias_exp"):
            np.testing.assert_array_equal(getattr(ra.params, f), getattr(rb.params, f))


def test_graded_network_exports_as_an_input_block_and_imports_back(tmp_path):
    spec = input_block_spec()
    res = export_netx(spec, tmp_path / "g.net", input_scale=16)
    first = res.spec.layers[0]
    assert int(first.neuron.du) == 4095 and int(first.neuron.vth) == 13  # 0.8 * 16 -> 13
    with h5py.File(res.path, "r") as f:
        g0 = f["layer/0"]
        assert g0["type"][0] == b"input" and g0["shape"][()].tolist() == [8]
        assert g0["weight"][()].tolist() == [16.0] and g0["bias"][()].tolist() == [0.0]
        assert int(g0["neuron/iDecay"][()]) == 4096 and int(g0["neuron/vDecay"][()]) == 1024
        assert int(g0["neuron/vThMant"][()]) == 13 and g0["neuron/type"][0] == b"CUBA"
        assert sorted(f["layer"].keys(), key=int) == ["0", "1", "2"]  # Input, dense, readout
        assert "neuron" not in f["layer/2"]
    imp = import_netx(res.path)
    assert imp.input_weight == 16
    assert_same_fixed(res.spec, imp.fixed_spec)
    x = random_input(1, 12, 10, 8, graded=True)
    xi = imp.encode_input(x)
    np.testing.assert_array_equal(xi, np.sign(16 * x) * np.floor(np.abs(16 * x) + 0.5))
    want, want_layers = emulate_fixed(res.spec, xi, record=True)
    got, got_layers = emulate_fixed(imp.fixed_spec, xi, record=True)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    for k, (a, b) in enumerate(zip(want_layers, got_layers, strict=True)):
        np.testing.assert_array_equal(a["spikes"].numpy(), b["spikes"].numpy(), err_msg=str(k))
        assert 0.05 < float(a["spikes"].float().mean()) < 0.8, k
    assert np.abs(want.numpy()).max() > 1000  # the readout integrates a real current
    # the exported network is the float one quantised: most spikes of every layer agree
    _, float_layers = reference_run(spec, x, record=True)
    for a, b in zip(float_layers, want_layers, strict=True):
        assert np.mean(a["spikes"] == b["spikes"].numpy()) > 0.85
    # exporting the import again writes the same file content
    again = export_netx(imp.fixed_spec, tmp_path / "again.net", input_scale=imp.input_weight)
    with h5py.File(res.path, "r") as fa, h5py.File(again.path, "r") as fb:
        for key in ("0/weight", "0/neuron/iDecay", "0/neuron/vDecay", "0/neuron/vThMant",
                    "1/weight", "1/bias", "1/neuron/vThMant", "2/weight", "2/bias"):  # fmt: skip
            np.testing.assert_array_equal(fa[f"layer/{key}"][()], fb[f"layer/{key}"][()])


def test_exported_graded_file_runs_in_lava_dl_loader(tmp_path):
    try:
        side = ensure_netx_reader()
    except NetxUnavailable as exc:
        pytest.skip(f"lava-dl's netx reader is not available (offline?): {exc}")
    res = export_netx(input_block_spec(1), tmp_path / "g.net", input_scale=16)
    imp = import_netx(res.path)
    xi = imp.encode_input(random_input(2, 12, 8, 8, graded=True))
    theirs = run_netx(res.path, xi, side_dir=side, record=True)
    ours = run_network(imp.fixed_spec, xi, "fixed", record=True)
    emu, emu_layers = emulate_fixed(res.spec, xi, record=True)
    assert len(theirs.layers) == 2  # the Input block and the hidden layer; readout = output
    for k in range(2):
        np.testing.assert_array_equal(theirs.layers[k]["spikes"], ours.layers[k]["spikes"])
        np.testing.assert_array_equal(theirs.layers[k]["spikes"], emu_layers[k]["spikes"].numpy())
        assert theirs.layers[k]["spikes"].sum() > 0, k
    np.testing.assert_array_equal(theirs.output, ours.output)  # readout voltage, every step
    np.testing.assert_array_equal(theirs.output, emu.numpy())


def _lava_dl_mnist():
    try:
        side = ensure_netx_reader()
    except NetxUnavailable as exc:
        pytest.skip(f"lava-dl 0.6.0 is not available (offline?): {exc}")
    path = side / "tests" / "lava" / "lib" / "dl" / "netx" / "mnist.net"
    if not path.exists():
        pytest.skip(f"{path} is not in the lava-dl wheel")
    return path


def test_real_mnist_net_round_trips_through_export(tmp_path):
    src = _lava_dl_mnist()
    imp = import_netx(src)
    res = export_netx(imp.fixed_spec, tmp_path / "m.net", input_scale=imp.input_weight)
    imp2 = import_netx(res.path)
    assert imp2.input_weight == imp.input_weight == 76
    assert_same_fixed(imp.fixed_spec, imp2.fixed_spec)
    with h5py.File(src, "r") as fa, h5py.File(res.path, "r") as fb:
        for key in ("weight", "neuron/iDecay", "neuron/vDecay", "neuron/vThMant", "shape"):
            np.testing.assert_array_equal(fa[f"layer/0/{key}"][()], fb[f"layer/0/{key}"][()])
        for k in ("1", "2", "3"):
            np.testing.assert_array_equal(fa[f"layer/{k}/weight"][()], fb[f"layer/{k}/weight"][()])
    # the model file written by import-netx exports with the recorded transform weight
    model = tmp_path / "mnist.h5"
    assert main(["import-netx", str(src), str(model), "--n-classes", "10"]) == 0
    out = tmp_path / "cli.net"
    assert main(["export-netx", str(model), str(out)]) == 0
    assert import_netx(out).input_weight == 76
    assert_same_fixed(imp.fixed_spec, import_netx(out).fixed_spec)


def test_graded_refusals_name_what_netx_cannot_hold(tmp_path, capsys):
    general = random_spec(0, (10, 10, 6), graded=True)  # a weight matrix on the real data
    with pytest.raises(StockLavaError, match="not a positive multiple of the identity") as err:
        export_netx(general, tmp_path / "a.net")
    assert "Input block" in str(err.value) and "export-nir" in str(err.value)
    assert "layer 0 has a bias" in str(err.value)
    with pytest.raises(StockLavaError, match="layer 0 has 12 neurons for 10 inputs"):
        export_netx(random_spec(0, (10, 12, 6), graded=True), tmp_path / "a.net")
    q, _ = quantize(general, input_scale=16.0)
    why = netx_compatible(q)
    assert any("graded input: layer 0's weights are not the identity" in w for w in why)
    assert any("graded input: layer 0 has du = " in w for w in why)
    spec = input_block_spec()
    with pytest.raises(StockLavaError, match="not a positive integer"):
        export_netx(spec, tmp_path / "b.net", input_scale=0.5)
    with pytest.raises(StockLavaError, match="applies to graded input"):
        export_netx(random_spec(0, (10, 6)), tmp_path / "c.net", input_scale=4)
    leaky_first = LayerSpec(np.eye(8), ntlif_parameters(8, du=0.5))
    leaky = NetworkSpec(8, [leaky_first, spec.layers[1]], input="graded")
    with pytest.raises(StockLavaError, match="layer 0 has du = 0.5, not 1"):
        export_netx(leaky, tmp_path / "d.net")
    # through the command line: exit 1, one line with the reason, no file
    model = tmp_path / "general.h5"
    save_model(model, general, meta={"n_classes": 3})
    assert main(["export-netx", str(model), str(tmp_path / "e.net")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lava-nt export-netx: error:") and "Input block" in err
    assert "Traceback" not in err and not (tmp_path / "e.net").exists()


def test_export_netx_command_uses_the_attached_input_scale(tmp_path, capsys):
    model = tmp_path / "g.h5"
    save_model(model, input_block_spec(2), meta={"n_classes": 3})
    assert main(["quantize", str(model), "--input-scale", "32", "--attach"]) == 0
    out = tmp_path / "g.net"
    assert main(["export-netx", str(model), str(out)]) == 0
    text = capsys.readouterr().out
    assert "bias-encoded Input block" in text and "round(32 * x)" in text
    imp = import_netx(out)
    assert imp.input_weight == 32
    spec, info = load_model(model)
    assert info.quant_report.input_scale == 32.0
    want = export_netx(spec, tmp_path / "api.net", input_scale=32).spec
    assert_same_fixed(want, imp.fixed_spec)


def test_input_block_with_delays_is_refused():
    import dataclasses

    spec = input_block_spec()
    fixed, _ = quantize(spec, input_scale=4.0)
    assert not any("delays" in w for w in netx_compatible(fixed))
    first = fixed.layers[0]
    delayed = dataclasses.replace(first, delay=np.full((first.n, fixed.n_in), 2, dtype=np.int64))
    bad = NetworkSpec(fixed.n_in, [delayed, *fixed.layers[1:]], fixed=True,
                      readout=fixed.readout, input="graded")  # fmt: skip
    assert any("layer 0 has synaptic delays (netx's Input block has none)" in w
               for w in netx_compatible(bad))  # fmt: skip
