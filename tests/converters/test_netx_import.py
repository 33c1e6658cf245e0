"""netx import (lava_nt.converters.netx.importer).

Proofs:
* importing lava-nt's own netx export (``export_netx`` of a float model, quantised for netx)
  gives back the quantised fixed spec register for register (weights, exponents, decays,
  thresholds, bias mantissas/exponents, gains, reset), hence bit-identical spikes in the numpy
  reference and the torch fixed-point emulator; writing the import out again gives the same file
  content; the float twin re-quantised at the imported scales gives the same integers;
* lava-dl 0.6.0's ``optimize_weight_bits`` (read from the side install) is reproduced exactly;
* the imported network's Lava fixed-point run (``run_network``) equals lava-dl's own netx loader
  (``run_netx``) at every layer, for lava-nt's export and for hand-written slayer-style files
  (odd, excitatory-only and mostly inhibitory weights, float-typed datasets). That test is
  skipped when lava-dl's reader is not installed in the side directory (it is installed on
  demand by tests/converters/test_netx.py when PyPI is reachable; this file does not download).
"""

import importlib.util

import h5py
import numpy as np
import pytest
import torch

from lava_nt.converters.lava_graph import run_network
from lava_nt.converters.netx import (
    NetxImportError,
    NetxUnavailable,
    default_side_dir,
    ensure_netx_reader,
    export_netx,
    import_netx,
    netx_effective_weights,
    netx_float_equivalent,
    read_netx,
    run_netx,
)
from lava_nt.converters.netx.lava_dl import optimize_weight_bits
from lava_nt.converters.quantize import QuantizationError, quantize
from lava_nt.network import LayerSpec, NetworkSpec, reference_run
from lava_nt.nn.fixed_emulator import emulate_fixed
from lava_nt.nn.network import NTNetwork
from lava_nt.spec import fixed_ntlif_parameters
from lava_nt.testing import random_spec


def float_spec(seed: int = 0) -> NetworkSpec:
    """A 30-24-16-10 float network netx can hold after quantisation (gains folded)."""
    return random_spec(seed, (30, 24, 16, 10), du=(0.5, 1.0, 0.25), dv=(0.2, 0.1, 0.0),
                       vth=(1.0, 0.8, 1.2), weight_scale=1.2, fan_in=True)  # fmt: skip


def x_in(seed, T=20, B=16, n=30):
    return (np.random.default_rng(50 + seed).random((T, B, n)) < 0.3).astype(np.float64)


def assert_same_fixed(a: NetworkSpec, b: NetworkSpec):
    assert a.fixed and b.fixed and a.sizes == b.sizes
    for la, lb in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(la.weight, lb.weight)
        assert la.weight_exp == lb.weight_exp
        pa, pb = la.neuron, lb.neuron
        for f in ("du", "dv", "vth"):
            assert int(getattr(pa, f)) == int(getattr(pb, f)), f
        for f in ("bias_mant", "bias_exp", "gain_mant"):
            np.testing.assert_array_equal(
                np.broadcast_to(getattr(pa, f), (la.n,)), np.broadcast_to(getattr(pb, f), (lb.n,))
            )
        assert pa.reset_subtract == pb.reset_subtract
        assert lb.spiking_bias is None


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_import_of_own_export_reproduces_the_fixed_spec(tmp_path, seed):
    res = export_netx(float_spec(seed), tmp_path / "net.h5")
    imp = import_netx(res.path)
    assert_same_fixed(res.spec, imp.fixed_spec)
    x = x_in(seed)
    ra, rb = reference_run(res.spec, x, record=True)[1], reference_run(imp.fixed_spec, x, True)[1]
    for k, (la, lb) in enumerate(zip(ra, rb, strict=True)):
        np.testing.assert_array_equal(la["spikes"], lb["spikes"], err_msg=f"layer {k}")
    assert ra[-1]["spikes"].sum() > 50
    emu = emulate_fixed(imp.fixed_spec, torch.as_tensor(x))
    emu = (emu[0] if isinstance(emu, tuple) else emu).numpy()
    np.testing.assert_array_equal(emu, ra[-1]["spikes"])
    # deployed back: exporting the imported network writes the same integers
    again = export_netx(imp.fixed_spec, tmp_path / "again.h5")
    with h5py.File(res.path, "r") as fa, h5py.File(again.path, "r") as fb:
        for k in ("1", "2", "3"):
            for key in ("weight", "bias", "neuron/iDecay", "neuron/vDecay", "neuron/vThMant"):
                np.testing.assert_array_equal(
                    fa[f"layer/{k}/{key}"][()], fb[f"layer/{k}/{key}"][()]
                )
    # the float twin keeps integer units (S = 64): thresholds are vThMant, weights the integers
    # that reach u >> 6; re-quantised at the imported scales it is the same spec
    for lf, lx in zip(imp.float_spec.layers, imp.fixed_spec.layers, strict=True):
        assert float(lf.neuron.vth) == int(lx.neuron.vth)
        assert np.all(lf.weight == np.round(lf.weight))
    q2, _ = quantize(imp.float_spec, target="netx", scales=imp.scales)
    assert_same_fixed(imp.fixed_spec, q2)
    assert imp.report.exact and imp.report.target == "netx"


def test_float_twin_is_the_real_valued_network(tmp_path):
    """The float twin is dequantize(fixed, S = 64 vth): W = W_int / vth, b = bias / vth,
    du = iDecay / 4096, dv = vDecay / 4096; it trains as an NTNetwork."""
    res = export_netx(float_spec(4), tmp_path / "net.h5")
    imp = import_netx(res.path, units="threshold")
    with h5py.File(res.path, "r") as f:
        for k, ls in enumerate(imp.float_spec.layers, start=1):
            vth = int(f[f"layer/{k}/neuron/vThMant"][()])
            np.testing.assert_allclose(ls.weight, f[f"layer/{k}/weight"][()] / vth, rtol=1e-15)
            np.testing.assert_allclose(ls.neuron.bias, f[f"layer/{k}/bias"][()] / vth, rtol=1e-15)
            assert ls.neuron.du == int(f[f"layer/{k}/neuron/iDecay"][()]) / 4096
            assert ls.neuron.dv == int(f[f"layer/{k}/neuron/vDecay"][()]) / 4096
            assert imp.scales[k - 1] == 64.0 * vth
    other = netx_float_equivalent(imp.fixed_spec)
    for la, lb in zip(other.layers, imp.float_spec.layers, strict=True):
        np.testing.assert_array_equal(la.weight, lb.weight)
    net = NTNetwork.from_spec(imp.float_spec, dtype=torch.float64)
    x = x_in(4)
    with torch.no_grad():
        out = net(torch.as_tensor(x))
    out = (out[0] if isinstance(out, tuple) else out).numpy()
    np.testing.assert_array_equal(out, reference_run(imp.float_spec, x))
    # the integer network and its float twin agree on most spikes (truncating decays aside)
    assert np.mean(reference_run(imp.fixed_spec, x) == out) > 0.9


def _side_utils():
    side = default_side_dir()
    path = side / "lava" / "lib" / "dl" / "netx" / "utils.py"
    if not path.exists():
        pytest.skip(f"lava-dl's netx reader is not installed in {side}")
    spec = importlib.util.spec_from_file_location("_lava_dl_netx_utils", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_weight_handling_equals_lava_dl():
    utils = _side_utils()
    rng = np.random.default_rng(0)
    cases = [
        rng.integers(-120, 121, (6, 9)),  # odd, mixed
        2 * rng.integers(-128, 128, (6, 9)),  # even, full range (lava-nt / slayer style)
        rng.integers(0, 40, (6, 9)),  # small, excitatory
        -rng.integers(0, 256, (6, 9)),  # inhibitory with zeros
        np.where(rng.random((6, 9)) < 0.5, 0, -rng.integers(1, 200, (6, 9))),
        rng.integers(-3, 4, (6, 9)) * 16,  # coarse
        np.r_[rng.integers(-256, 255, (5, 9)), np.full((1, 9), 254)],
    ]
    for w in cases:
        ours = optimize_weight_bits(w)
        with np.errstate(divide="ignore"):
            theirs = utils.optimize_weight_bits(w)
        np.testing.assert_array_equal(ours[0], theirs[0])
        assert ours[1:] == (theirs[1], theirs[2])
        eff, e = netx_effective_weights(w)
        assert e == theirs[2]


def write_netx(path, seed, kinds, sizes=(24, 20, 12), extra=None, i_decay=None):
    """A slayer-style netx file written by hand (not by lava-nt)."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        lay = f.create_group("layer")
        g0 = lay.create_group("0")
        g0.create_dataset("type", (1,), "S10", [b"input"])
        g0.create_dataset("shape", data=np.array([sizes[0]]))
        for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
            kind = kinds[k - 1]
            if kind == "mixed_odd":
                w = rng.integers(-120, 121, (b, a))
            elif kind == "excitatory":
                w = rng.integers(0, 40, (b, a))
            elif kind == "inhibitory":
                w = -rng.integers(0, 6, (b, a))
            else:  # slayer: even integers in [-256, 254]
                w = 2 * rng.integers(-128, 128, (b, a))
            g = lay.create_group(str(k))
            g.create_dataset("type", (1,), "S10", [b"dense"])
            g.create_dataset("shape", data=np.array([b]))
            g.create_dataset("inFeatures", data=a)
            g.create_dataset("outFeatures", data=b)
            g.create_dataset("weight", data=w.astype(np.float32) if k == 1 else w)
            bias = rng.integers(-20, 60, b) if kind != "inhibitory" else rng.integers(20, 80, b)
            g.create_dataset("bias", data=bias.astype(np.float64))
            n = g.create_group("neuron")
            n.create_dataset("type", (1,), "S10", [b"CUBA"])
            i_dec = int(rng.integers(1, 4097)) if i_decay is None else i_decay
            n.create_dataset("iDecay", data=i_dec)
            n.create_dataset("vDecay", data=int(rng.integers(0, 4096)))
            n.create_dataset("vThMant", data=int(rng.integers(20, 200)))
            n.create_dataset("refDelay", data=1)
            n.create_dataset("gradedSpike", data=False)
            if extra:
                extra(k, g)
    return path


def test_foreign_files_import(tmp_path):
    p = write_netx(tmp_path / "a.h5", 0, ("mixed_odd", "excitatory"))
    imp = import_netx(p)
    assert imp.fixed_spec.sizes == [24, 20, 12]
    assert [ls.weight_exp for ls in imp.fixed_spec.layers] == [-1, -2]  # odd: 2W; small: 4W
    # no input layer: n_in from the weights; an all-zero delay dataset is accepted
    with h5py.File(p, "a") as f:
        del f["layer/0"]
        for k in ("1", "2"):
            f.move(f"layer/{k}", f"layer/{int(k) - 1}")
        f["layer/0"].create_dataset("delay", data=np.zeros(20, dtype=np.int64))
    imp2 = import_netx(p)
    assert imp2.fixed_spec.sizes == [24, 20, 12]
    assert any("no input layer" in n for n in imp2.notes)
    assert any("delay" in n for n in imp2.notes)
    assert_same_fixed(imp.fixed_spec, imp2.fixed_spec)


def _set(key, value):
    def extra(k, g):
        if k == 1:
            if key in g:
                del g[key]
            if value is not None:
                if isinstance(value, bytes):
                    g.create_dataset(key, (1,), "S10", [value])
                else:
                    g.create_dataset(key, data=value)

    return extra


@pytest.mark.parametrize(
    "extra, words",
    [
        (_set("delay", np.full(20, -1)), "negative delay"),
        (_set("neuron/type", b"SDNN"), "neuron type 'SDNN'"),
        (_set("neuron/messageBits", 8), "graded spikes"),
        (_set("neuron/iDecay", 0), "iDecay = 0"),
        (_set("neuron/vDecay", 4096), "vDecay = 4096"),
        (_set("neuron/vThMant", 1 << 17), "vThMant"),
        (_set("neuron", None), "no neuron group"),
        (_set("weight_rec", np.zeros((20, 20))), "recurrent"),
        (_set("weight", np.full((20, 24), 300)), "8-bit synapse range"),
        (_set("weight", np.ones((20, 5))), "weight has 5 inputs"),
        (_set("bias", np.full(20, 1 << 14) + 1), "13-bit mantissa"),
        (_set("type", b"conv"), "convolutions"),
    ],
)
def test_refusals_name_the_layer(tmp_path, extra, words):
    p = write_netx(tmp_path / "bad.h5", 1, ("slayer", "slayer"), extra=extra)
    with pytest.raises(NetxImportError, match=words) as err:
        import_netx(p)
    assert err.value.layer == 1 and "layer 1" in str(err.value)


def test_file_errors(tmp_path):
    with pytest.raises(NetxImportError, match="does not exist"):
        import_netx(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_bytes(b"\x00junk" * 100)
    with pytest.raises(NetxImportError, match="not an HDF5 file"):
        import_netx(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "nolayer.h5", "w") as f:
        f.create_group("other")
    with pytest.raises(NetxImportError, match="no '/layer' group"):
        import_netx(tmp_path / "nolayer.h5")
    p = write_netx(tmp_path / "gap.h5", 2, ("slayer", "slayer"))
    with h5py.File(p, "a") as f:
        f.move("layer/2", "layer/5")
    with pytest.raises(NetxImportError, match="numbered 0..L-1"):
        import_netx(p)
    p = write_netx(tmp_path / "trunc.h5", 2, ("slayer", "slayer"))
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(NetxImportError):
        import_netx(p)


def test_lava_fixed_run_equals_lava_dl_loader(tmp_path):
    try:
        side = ensure_netx_reader()
    except NetxUnavailable as exc:
        pytest.skip(f"lava-dl's netx reader is not available (offline?): {exc}")
    files = [
        export_netx(float_spec(5), tmp_path / "own.h5").path,
        write_netx(tmp_path / "odd.h5", 3, ("mixed_odd", "excitatory")),
        write_netx(tmp_path / "inh.h5", 4, ("slayer", "inhibitory"), i_decay=4096),
    ]
    for path in files:
        imp = import_netx(path)
        x = x_in(6, T=16, B=10, n=imp.fixed_spec.n_in)
        ours = run_network_fixed(imp.fixed_spec, x)
        theirs = run_netx(path, x, side_dir=side, record=True)
        for k, (a, b) in enumerate(zip(ours.layers, theirs.layers, strict=True)):
            np.testing.assert_array_equal(a["spikes"], b["spikes"], err_msg=f"{path} layer {k}")
            assert b["spikes"].sum() > 0, f"{path} layer {k} is silent"
        np.testing.assert_array_equal(reference_run(imp.fixed_spec, x), theirs.spikes)


def run_network_fixed(spec, x):
    from lava_nt.converters.lava_graph import run_network

    return run_network(spec, x, "fixed", record=True)


# ---- real files written by lava-dl's own exporter (shipped in the lava-dl 0.6.0 wheel) -----------
def _lava_dl_file(name: str):
    try:
        side = ensure_netx_reader()
    except NetxUnavailable as exc:
        pytest.skip(f"lava-dl 0.6.0 is not available (offline?): {exc}")
    path = side / "tests" / "lava" / "lib" / "dl" / "netx" / name
    if not path.exists():
        pytest.skip(f"{path} is not in the lava-dl wheel")
    return path


def test_read_netx_reads_scalar_string_fields_of_a_real_file():
    """lava-dl writes neuron/type as a scalar string dataset (a raw h5py error before)."""
    info = read_netx(_lava_dl_file("mnist.net"))
    assert info["n_in"] == 784
    assert info["input"] == {
        "shape": [784], "weight": 76, "bias": 64, "neuron_type": "CUBA", "iDecay": 4096,
        "vDecay": 123, "vThMant": 80,
    }  # fmt: skip
    assert [(lay["neuron_type"], lay["readout"]) for lay in info["layers"]] == [
        ("CUBA", False), ("CUBA", False), (None, True),
    ]  # fmt: skip


def test_real_mnist_net_imports_with_graded_input_and_integrator_readout():
    imp = import_netx(_lava_dl_file("mnist.net"), reduce="max")
    fx = imp.fixed_spec
    assert fx.input == "graded" and fx.sizes == [784, 784, 512, 512] and fx.n_out == 10
    assert imp.input_weight == 76
    first = fx.layers[0]
    assert np.array_equal(first.weight, np.eye(784)) and int(first.neuron.du) == 4095
    assert int(first.neuron.dv) == 123 and int(first.neuron.vth) == 80
    assert np.all(first.neuron.bias_mant == 0)  # netx never applies the transform's bias
    ro = fx.readout.params
    assert (ro.i_decay, ro.v_decay, ro.reduce) == (0, 4096, "max")
    np.testing.assert_array_equal(imp.encode_input([0.0, 0.5, 1.0]), [0, 38, 76])
    # the float twin keeps integer units: integer weights, thresholds 80, dyadic decays
    fl = imp.float_spec
    assert all(np.all(ls.weight == np.round(ls.weight)) for ls in fl.layers)
    assert fl.layers[1].neuron.vth == 80.0 and fl.layers[1].neuron.dv == 123 / 4096
    assert fl.readout.params.du == 0.0 and fl.readout.params.dv == 1.0


@pytest.mark.parametrize(
    "name, layer, words",
    [
        ("tiny.net", 1, "type 'conv'"),
        ("gts/pilotnet_lif/network.net", 1, "type 'conv'"),
    ],
)
def test_real_files_with_unsupported_layers_are_refused_naming_the_layer(name, layer, words):
    with pytest.raises(NetxImportError, match=words) as err:
        import_netx(_lava_dl_file(name))
    assert err.value.layer == layer and f"layer {layer}" in str(err.value)


def _mnist_like_input(rng, T: int, B: int) -> np.ndarray:
    """Deterministic stand-ins for MNIST digits (graded, mostly dark, bright strokes)."""
    img = np.zeros((B, 28, 28))
    for b in range(B):
        for _ in range(4):
            r, c = rng.integers(4, 24, 2)
            dr, dc = rng.integers(-1, 2, 2)
            for s in range(int(rng.integers(5, 12))):
                rr, cc = np.clip(r + s * dr, 0, 27), np.clip(c + s * dc, 0, 27)
                img[b, rr, cc] = rng.uniform(0.5, 1.0)
    return np.broadcast_to(img.reshape(B, 784)[None], (T, B, 784)).copy()


def test_real_mnist_net_lava_fixed_equals_lava_dl_loader_every_layer_and_readout():
    path = _lava_dl_file("mnist.net")
    imp = import_netx(path)
    T, B = 16, 6
    x = imp.encode_input(_mnist_like_input(np.random.default_rng(0), T, B))
    ours = run_network(imp.fixed_spec, x, "fixed", record=True)
    theirs = run_netx(path, x, record=True)
    assert len(theirs.layers) == 3  # Input block + two hidden layers; the readout is the output
    for k in range(3):
        np.testing.assert_array_equal(ours.layers[k]["spikes"], theirs.layers[k]["spikes"])
        assert 0.01 < ours.layers[k]["spikes"].mean() < 0.9, k
    assert ours.output.shape == (T, B, 10) and ours.output.dtype == np.int64
    np.testing.assert_array_equal(ours.output, theirs.output)  # readout voltage, every step
    np.testing.assert_array_equal(ours.output, emulate_fixed(imp.fixed_spec, x).numpy())
    np.testing.assert_array_equal(ours.output, reference_run(imp.fixed_spec, x))
    assert np.abs(ours.output).max() > 64 * 100  # a real accumulated current


def test_exact_float_import_keeps_threshold_ties():
    """A network imported from integers, in integer units, runs identically in torch float64,
    Lava float and the fixed-point emulator, although many voltages hit the threshold exactly;
    the threshold-normalised twin (S = 64 vThMant: W / vThMant is not representable) breaks
    some of those ties."""
    rng = np.random.default_rng(5)
    n_in, sizes, T, B = 30, (40, 30), 20, 40
    layers, n_prev = [], n_in
    for n in sizes:
        layers.append(
            LayerSpec(
                rng.integers(-6, 10, (n, n_prev)),
                fixed_ntlif_parameters(n, du=4095, dv=0, vth=int(rng.integers(20, 30)),
                                       bias_mant=np.zeros(n, np.int64), bias_exp=0),
                weight_exp=0,
            )
        )  # fmt: skip
        n_prev = n
    fixed = NetworkSpec(n_in, layers, fixed=True)
    x = (rng.random((T, B, n_in)) < 0.3).astype(np.float64)
    want = emulate_fixed(fixed, x, record=True)[1]
    path = export_netx(fixed, _tmp_h5()).path
    exact = import_netx(path).float_spec
    net = NTNetwork.from_spec(exact, dtype=torch.float64)
    with torch.no_grad():
        _, rec = net(torch.as_tensor(x), record=True)
    lava = run_network(exact, x, "float", record=True)
    ties = _count_ties(exact, x)
    assert ties > 100, ties
    for k in range(len(sizes)):
        np.testing.assert_array_equal(rec[k]["spikes"].numpy(), want[k]["spikes"].numpy())
        np.testing.assert_array_equal(lava["layers"][k]["spikes"], want[k]["spikes"].numpy())
    scaled = import_netx(path, units="threshold").float_spec
    out = reference_run(scaled, x, record=True)[1]
    assert any(not np.array_equal(out[k]["spikes"], want[k]["spikes"].numpy()) for k in range(2))


def _tmp_h5():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp()) / "ties.h5"


def _count_ties(spec: NetworkSpec, x) -> int:
    """Steps at which some float voltage equals its threshold exactly (numpy reference)."""
    from lava_nt.spec.ntlif import NTLIFState, ntlif_step

    ties, s_in = 0, x
    for ls in spec.layers:
        st = NTLIFState(np.zeros((x.shape[1], ls.n)), np.zeros((x.shape[1], ls.n)))
        out = np.zeros((x.shape[0], x.shape[1], ls.n))
        for t in range(x.shape[0]):
            a = s_in[t] @ ls.weight.T
            pre = (1 - ls.neuron.dv) * st.v + ls.neuron.gain * ((1 - ls.neuron.du) * st.u + a)
            ties += int(np.sum(pre == ls.neuron.vth))
            out[t], st = ntlif_step(a, 0, st, ls.neuron)
        s_in = out
    return ties


def test_readout_exports_to_netx_and_imports_back(tmp_path):
    from lava_nt.spec.readout import ReadoutSpec, readout_parameters

    rng = np.random.default_rng(8)
    base = float_spec(6)
    n_last = base.layers[-1].n
    readout = ReadoutSpec(
        rng.normal(0, 0.6, (5, n_last)),
        readout_parameters(5, du=0.0, dv=1.0, bias=rng.normal(0, 0.2, 5)),
    )
    spec = NetworkSpec(base.n_in, base.layers, readout=readout)
    res = export_netx(spec, tmp_path / "ro.h5")
    assert res.spec.readout is not None and res.report.readout is not None
    with h5py.File(res.path, "r") as f:
        last = f[f"layer/{len(spec.layers) + 1}"]
        assert "neuron" not in last and last["weight"].shape == (5, n_last)
    imp = import_netx(res.path)
    assert imp.fixed_spec.readout.params.i_decay == 0
    x = (rng.random((20, 12, spec.n_in)) < 0.3).astype(np.float64)
    want = emulate_fixed(res.spec, x).numpy()
    np.testing.assert_array_equal(emulate_fixed(imp.fixed_spec, x).numpy(), want)
    assert np.abs(want).max() > 0
    leaky = NetworkSpec(
        base.n_in,
        base.layers,
        readout=ReadoutSpec(readout.weight, readout_parameters(5, du=0.5, dv=1.0)),
    )
    with pytest.raises(QuantizationError, match="accumulates its current"):
        export_netx(leaky, tmp_path / "leaky.h5")
