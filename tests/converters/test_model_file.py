"""Model files (lava_nt.converters.model_file): exact round trips, atomic writes, validation.

Round trip NTNetwork -> file -> NTNetwork is bitwise in float32 and float64 (every tensor of the
state dict, its dtype, which tensors are trainable, surrogate settings); specs (float and fixed,
with masks and groups) round-trip value for value. Writes are atomic and never replace a file
without ``overwrite``. Every kind of bad file gives a ModelFileError naming the file and the
problem: missing, not HDF5, truncated, corrupted bytes, wrong format, wrong schema version,
missing datasets, wrong shapes or dtypes, non-finite and out-of-range values.
"""

import json
import os
import struct

import h5py
import numpy as np
import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.converters import model_file as mf
from lava_nt.converters.model_file import (
    ModelFileError,
    ModelFileExistsError,
    attach_quantized,
    load_model,
    load_network,
    network_from_model,
    save_model,
)
from lava_nt.converters.quantize import quantize
from lava_nt.network import NetworkSpec, reference_run
from lava_nt.testing import random_spec
from lava_nt.tuning import apply_tuning, count_trainable, trainable_counts


def tuned_net(dtype, method="volumetric", seed=0):
    net = build_network(20, [30], n_classes=2, population=5, seed=seed, dtype=dtype)
    kw = {"group_size": 5} if method == "volumetric" else {}
    rep = apply_tuning(net, [method], seed=seed + 1, **kw)
    g = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():  # "trained" values: nothing is a round number any more
        for p in net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
        for layer in net.layers:
            layer.neuron.bias.add_(0.01 * torch.randn(layer.n, generator=g, dtype=dtype))
            if layer.spiking_bias is not None:
                layer.spiking_bias.constrain_()
    return net, rep


def assert_same_network(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sorted(sa) == sorted(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype, k
        assert torch.equal(sa[k], sb[k]), k
    assert sorted((n, p.requires_grad) for n, p in a.named_parameters()) == sorted(
        (n, p.requires_grad) for n, p in b.named_parameters()
    )
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert (la.neuron.surrogate, la.neuron.alpha) == (lb.neuron.surrogate, lb.neuron.alpha)
        assert la.neuron.detach_reset == lb.neuron.detach_reset


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("method", ["volumetric", "nt1"])
def test_network_round_trip_is_bitwise(tmp_path, dtype, method):
    net, rep = tuned_net(dtype, method)
    for layer in net.layers:  # non-default surrogate settings must survive
        layer.neuron.alpha = 3.5
        layer.neuron.surrogate = "atan"
    path = tmp_path / "model.h5"
    meta = {"seed": 7, "data_protocol": "honest", "subject": 3, "notes": {"lr": 1e-4}}
    save_model(path, net, meta=meta, tuning=rep)
    net2, info = load_network(path)
    assert_same_network(net, net2)
    x = (torch.rand(12, 9, 20, generator=torch.Generator().manual_seed(1)) < 0.4).to(dtype)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net2(x), rtol=0, atol=0)
    assert info.dtype == str(dtype).replace("torch.", "")
    assert info.tuning_methods == [method]
    assert info.trainable_counts == trainable_counts(net)
    assert info.n_trainable == count_trainable(net) == rep.total
    assert (info.n_classes, info.population) == (2, 5)
    assert info.seed == 7 and info.data_protocol == "honest"
    assert info.meta == {"subject": 3, "notes": {"lr": 1e-4}}
    assert info.sizes == [20, 30, 10] and info.schema_version == mf.SCHEMA_VERSION
    assert info.surrogate[0]["name"] == "atan" and info.surrogate[0]["alpha"] == 3.5
    assert net2.n_classes == 2
    # a different dtype on request
    net3 = network_from_model(*load_model(path), dtype=torch.float64)
    assert net3.layers[0].linear.weight.dtype == torch.float64


def _float_spec(seed):
    """9 -> 8 -> 6: a masked per-neuron spiking bias on layer 0 (gains, biases), a grouped one
    (explicit group per neuron) on layer 1 (subtract reset, no bias, unit gains)."""
    return random_spec(seed, (9, 8, 6), spiking_bias=("per_neuron", "grouped"), du=(0.3, 1.0),
                       dv=(0.1, 0.0), vth=(1.2, 1.0), resets=("zero", "subtract"),
                       zero_bias=(1,), gain=(None, 1.0), weight_scale=1.0)  # fmt: skip


def assert_same_spec(a: NetworkSpec, b: NetworkSpec):
    assert a.fixed == b.fixed and a.sizes == b.sizes
    for la, lb in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(la.weight, lb.weight)
        assert la.weight_exp == lb.weight_exp
        for name, va in la.neuron._asdict().items():
            np.testing.assert_array_equal(np.broadcast_to(va, np.shape(getattr(lb.neuron, name))),
                                          getattr(lb.neuron, name), err_msg=name)  # fmt: skip
        sa, sb = la.spiking_bias, lb.spiking_bias
        assert (sa is None) == (sb is None)
        if sa is None:
            continue
        np.testing.assert_array_equal(sa.w_in, sb.w_in)
        assert sa.w_in_exp == sb.w_in_exp
        if sa.mask is None:
            assert sb.mask is None
        else:
            np.testing.assert_array_equal(sa.mask, sb.mask)
        for name, va in sa.params._asdict().items():
            vb = getattr(sb.params, name)
            if va is None:
                assert vb is None, name
            else:
                np.testing.assert_array_equal(np.broadcast_to(va, np.shape(vb)), vb, err_msg=name)


def test_spec_round_trip_float_fixed_and_attached_quantisation(tmp_path):
    spec = _float_spec(0)
    q, rep = quantize(spec)
    path = tmp_path / "spec.h5"
    save_model(path, spec, meta={"n_classes": 3}, quantized=(q, rep))
    spec2, info = load_model(path)
    assert_same_spec(spec, spec2)
    assert_same_spec(q, info.quantized)
    assert info.quant_report.to_dict() == rep.to_dict()
    assert (info.n_classes, info.population) == (3, 2)
    assert info.trainable == [dict.fromkeys(mf.TRAINABLE_KINDS, False)] * 2
    # a fixed-point network as the main network
    fpath = tmp_path / "fixed.h5"
    save_model(fpath, q)
    q2, finfo = load_model(fpath)
    assert finfo.fixed and finfo.quantized is None
    assert_same_spec(q, q2)
    with pytest.raises(ValueError, match="fixed point"):
        network_from_model(q2, finfo)
    # quantize on save, and attach later
    p3 = tmp_path / "q.h5"
    save_model(p3, spec, quantized=True)
    assert_same_spec(q, load_model(p3)[1].quantized)
    p4 = tmp_path / "later.h5"
    save_model(p4, spec)
    assert load_model(p4)[1].quantized is None
    info4 = attach_quantized(p4)
    assert_same_spec(q, info4.quantized)
    assert_same_spec(spec, load_model(p4)[0])


def test_save_refuses_to_overwrite_and_is_atomic(tmp_path, monkeypatch):
    net, _ = tuned_net(torch.float32, "nt1")
    path = tmp_path / "m.h5"
    save_model(path, net)
    before = path.read_bytes()
    with pytest.raises(ModelFileExistsError, match="overwrite=True"):
        save_model(path, net)
    assert path.read_bytes() == before
    net2, _ = tuned_net(torch.float32, "nt1", seed=5)
    save_model(path, net2, overwrite=True)
    assert_same_network(net2, load_network(path)[0])
    assert sorted(os.listdir(tmp_path)) == ["m.h5"]  # no temporary files left

    # a failure while writing leaves the old file untouched and no temporary file behind
    def broken(g, spec):
        g.create_group("layer_0")
        raise RuntimeError("disk full")

    monkeypatch.setattr(mf.write, "_write_spec", broken)
    replaced = path.read_bytes()
    with pytest.raises(RuntimeError, match="disk full"):
        save_model(path, net, overwrite=True)
    with pytest.raises(RuntimeError, match="disk full"):
        save_model(tmp_path / "new.h5", net)
    assert path.read_bytes() == replaced
    assert sorted(os.listdir(tmp_path)) == ["m.h5"]


def test_leftover_temporary_files_are_removed_by_the_next_save(tmp_path):
    """A kill during a write can leave the hidden temporary file; the next write removes it."""
    spec = _float_spec(0)
    stale = tmp_path / ".m.h5.k1ll3d.tmp"
    stale.write_bytes(b"half a file")
    save_model(tmp_path / "m.h5", spec)
    assert sorted(os.listdir(tmp_path)) == ["m.h5"]


def test_save_rejects_bad_arguments(tmp_path):
    net, _ = tuned_net(torch.float64, "nt1")
    with pytest.raises(ValueError, match="JSON"):
        save_model(tmp_path / "a.h5", net, meta={"x": object()})
    with pytest.raises(ValueError, match="n_classes"):
        save_model(tmp_path / "a.h5", net, meta={"n_classes": 3})
    with pytest.raises(ValueError, match="NTNetwork or a NetworkSpec"):
        save_model(tmp_path / "a.h5", {"not": "a network"})
    with pytest.raises(ModelFileError, match="does not exist"):
        save_model(tmp_path / "no" / "dir.h5", net)
    assert not (tmp_path / "a.h5").exists()


# ---- broken files -------------------------------------------------------------------------
@pytest.fixture()
def good_file(tmp_path):
    spec = _float_spec(1)
    path = tmp_path / "good.h5"
    save_model(path, spec, quantized=True)
    return path


def tamper(path, fn, fix_checksum=True):
    """Edit the file with h5py, then (optionally) store a matching checksum so that only the
    edit itself can be detected."""
    with h5py.File(path, "r+") as f:
        fn(f)
        if fix_checksum:
            f.attrs["checksum"] = mf._checksum(f)


def expect_error(path, *fragments):
    with pytest.raises(ModelFileError) as exc:
        load_model(path)
    msg = str(exc.value)
    assert str(path) in msg
    for frag in fragments:
        assert frag in msg, msg
    return msg


def test_missing_and_non_hdf5_files(tmp_path):
    expect_error(tmp_path / "nothing.h5", "does not exist")
    txt = tmp_path / "notes.h5"
    txt.write_text("not an HDF5 file\n")
    expect_error(txt, "not a readable HDF5 file")
    expect_error(tmp_path, "not a regular file")


def test_truncated_file(good_file):
    data = good_file.read_bytes()
    for frac in (0.5, 0.9):
        good_file.write_bytes(data[: int(len(data) * frac)])
        expect_error(good_file)


def test_corrupted_bytes_are_detected(good_file):
    data = bytearray(good_file.read_bytes())
    # flip the bytes of the first weight matrix's values (found by its exact byte pattern)
    w = load_model(good_file)[0].layers[0].weight.astype(np.float64).tobytes()
    at = bytes(data).find(w)
    assert at > 0
    data[at + 8 : at + 16] = struct.pack("<d", 12345.678)
    good_file.write_bytes(bytes(data))
    expect_error(good_file, "checksum mismatch")


def test_wrong_format_and_version(good_file, tmp_path):
    future = mf.SCHEMA_VERSION + 1
    tamper(good_file, lambda f: f.attrs.__setitem__("schema_version", future), fix_checksum=False)
    expect_error(good_file, f"schema version {future}", "reads versions 1, 2, 3")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_group("layer")
    expect_error(other, "not a lava-nt model file")


@pytest.mark.parametrize(
    "edit, fragments",
    [
        (
            lambda f: f["network/layer_0/neuron"].__delitem__("gain"),
            ["missing dataset", "/network/layer_0/neuron/gain"],
        ),
        (lambda f: f.__delitem__("training"), ["missing group '/training'"]),
        (
            lambda f: _replace(f, "network/layer_1/neuron/bias", np.zeros(5)),
            ["/network/layer_1/neuron/bias", "shape (5,)", "expected (6,)"],
        ),
        (
            lambda f: _replace(f, "network/layer_1/weight", np.zeros((6, 7))),
            ["/network/layer_1/weight", "(6, 7)"],
        ),
        (
            lambda f: _replace(f, "architecture/sizes", np.array([9, 8, 7])),
            ["'/network/layer_1/weight' has shape (6, 8), expected (7, 8)"],
        ),
        (
            lambda f: _replace(f, "network/layer_0/weight", np.ones((8, 9), dtype=np.int64)),
            ["/network/layer_0/weight", "must be floating-point"],
        ),
        (
            lambda f: _set(f, "network/layer_0/weight", (2, 3), np.nan),
            ["non-finite", "/network/layer_0/weight"],
        ),
        (
            lambda f: _replace(f, "network/layer_0/neuron/du", np.float64(1.5)),
            ["invalid parameters", "layer 0", "'du' must be <= 1.0"],
        ),
        (
            lambda f: _replace(f, "network/layer_0/neuron/vth", np.float64(-1.0)),
            ["'vth' must be > 0.0"],
        ),
        (
            lambda f: _replace(f, "network/layer_1/spiking_bias/group", np.full(6, 7)),
            ["'group' indices must be in [0, 2]"],
        ),
        (
            lambda f: (
                _set(f, "network/layer_0/spiking_bias/w_in", (0, 0), 3.0)
                if not f["network/layer_0/spiking_bias/mask"][0, 0]
                else _set(f, "network/layer_0/spiking_bias/mask", (0, 0), False)
            ),
            ["w_in is nonzero where the mask is False"],
        ),
        (
            lambda f: _replace(f, "quantized/layer_0/neuron/bias_mant", np.full(8, 5000)),
            ["/quantized/layer_0", "'bias_mant' must be in [-4096, 4095]"],
        ),
        (
            lambda f: f["output"].attrs.__setitem__("n_classes", 4),
            ["n_classes=4", "does not match 6 output neurons"],
        ),
        (
            lambda f: f["training"].attrs.__setitem__("trainable", "[1, 2"),
            ["'trainable'", "not valid JSON"],
        ),
        (lambda f: f["training"].attrs.__setitem__("n_trainable", 99), ["n_trainable=99"]),
    ],  # fmt: skip
)
def test_inconsistent_files(good_file, edit, fragments):
    tamper(good_file, edit)
    expect_error(good_file, *fragments)


def _replace(f, name, value):
    del f[name]
    f.create_dataset(name, data=value)


def _set(f, name, idx, value):
    arr = f[name][()]
    arr[idx] = value
    _replace(f, name, arr)


def test_checksum_covers_attributes(good_file):
    tamper(good_file, lambda f: f["provenance"].attrs.__setitem__("seed", json.dumps(99)), False)
    expect_error(good_file, "checksum mismatch")


def _to_v2(f):
    """What a version-2 writer wrote: the spiking-bias current's retention factor under its old
    name ``alpha`` (float dataset, trainable flag, trainable-count tensor names), version 2."""
    for g in ("network", "quantized"):
        for lg in f[g].values() if g in f else ():
            if "spiking_bias" in lg and "c_retention" in lg["spiking_bias"]:
                lg["spiking_bias"].move("c_retention", "alpha")
    tr = f["training"]
    flags = json.loads(tr.attrs["trainable"])
    tr.attrs["trainable"] = json.dumps(
        [{("alpha" if k == "c_retention" else k): v for k, v in t.items()} for t in flags]
    )
    counts = json.loads(tr.attrs["trainable_counts"])
    tr.attrs["trainable_counts"] = json.dumps(
        {k.replace("spiking_bias.c_retention", "spiking_bias.alpha"): v for k, v in counts.items()}
    )
    f.attrs["schema_version"] = 2


def _drop_v2(f):
    """What a version-1 writer wrote: as version 2, without the 'input' attribute."""
    _to_v2(f)
    for g in ("network", "quantized"):
        if g in f:
            del f[g].attrs["input"]
    f.attrs["schema_version"] = 1


def test_files_written_before_c_retention_load_bitwise(tmp_path):
    """Versions 1 and 2 store c_retention as 'alpha' (dataset and trainable flag): such a file
    loads to the same spec, flags, counts and network, bit for bit."""
    net, _ = tuned_net(torch.float64, "volumetric", seed=3)
    net.set_trainable(c_retention=True)
    with torch.no_grad():  # a trained, non-round retention factor
        for layer in net.layers:
            if layer.spiking_bias is not None:
                layer.spiking_bias.c_retention.mul_(0.8 + 0.1 * torch.rand(1).double())
    path, legacy = tmp_path / "new.h5", tmp_path / "legacy.h5"
    save_model(path, net, quantized=True)
    save_model(legacy, net, quantized=True)
    tamper(legacy, _to_v2)
    with h5py.File(legacy, "r") as f:
        assert f.attrs["schema_version"] == 2 and "alpha" in f["network/layer_0/spiking_bias"]
        assert "c_retention" not in f["network/layer_0/spiking_bias"]
    spec_new, info_new = load_model(path)
    spec_old, info_old = load_model(legacy)
    assert (info_new.schema_version, info_old.schema_version) == (mf.SCHEMA_VERSION, 2)
    assert_same_spec(spec_new, spec_old)
    assert_same_spec(info_new.quantized, info_old.quantized)
    assert info_old.trainable == info_new.trainable and info_old.trainable[0]["c_retention"]
    assert info_old.trainable_counts == info_new.trainable_counts == trainable_counts(net)
    assert_same_network(net, load_network(legacy)[0])
    v1 = tmp_path / "v1.h5"
    save_model(v1, net, quantized=True)
    tamper(v1, _drop_v2)  # version 1 as well
    assert_same_spec(spec_new, load_model(v1)[0])
    # each version has exactly one name: 'alpha' in a version-3 file is an extra member
    tamper(legacy, lambda f: f.attrs.__setitem__("schema_version", 3))
    expect_error(legacy, "spiking_bias/alpha' is not part of a model file")


def test_version_1_files_still_read(good_file):
    spec0, _ = load_model(good_file)
    tamper(good_file, _drop_v2)
    spec, info = load_model(good_file)
    assert info.schema_version == 1
    assert spec.input == "spikes" and spec.readout is None
    np.testing.assert_array_equal(spec.layers[0].weight, spec0.layers[0].weight)
    assert info.quantized is not None


def test_version_1_file_with_a_readout_group_is_refused(tmp_path):
    from lava_nt.spec.readout import ReadoutSpec, readout_parameters

    rng = np.random.default_rng(3)
    spec = _float_spec(3)
    spec.readout = ReadoutSpec(
        rng.normal(0, 1, (3, spec.layers[-1].n)), readout_parameters(3, du=0.0, dv=1.0)
    )
    path = tmp_path / "ro.h5"
    save_model(
        path, NetworkSpec(spec.n_in, spec.layers, readout=spec.readout), meta={"n_classes": 3}
    )
    tamper(path, _drop_v2)
    expect_error(path, "/network/readout", "not part of a model file")


@pytest.mark.parametrize("reduce", ["last", "mean", "max"])
def test_readout_and_graded_input_round_trip(tmp_path, reduce):
    from lava_nt.converters.quantize import quantize
    from lava_nt.spec.readout import ReadoutSpec, readout_parameters

    rng = np.random.default_rng(4)
    base = _float_spec(4)
    n_last = base.layers[-1].n
    readout = ReadoutSpec(
        rng.normal(0, 1, (4, n_last)),
        readout_parameters(4, du=0.25, dv=0.5, bias=rng.normal(0, 0.1, 4), reduce=reduce),
    )
    spec = NetworkSpec(base.n_in, base.layers, readout=readout, input="graded")
    path = tmp_path / "ro.h5"
    save_model(path, spec, quantized=quantize(spec, input_scale=16.0), meta={"n_classes": 4})
    back, info = load_model(path)
    assert back.input == "graded" and info.schema_version == mf.SCHEMA_VERSION
    np.testing.assert_array_equal(back.readout.weight, readout.weight)
    assert back.readout.params.reduce == reduce
    np.testing.assert_array_equal(back.readout.params.bias, readout.params.bias)
    assert (back.readout.params.du, back.readout.params.dv) == (0.25, 0.5)
    q = info.quantized
    assert q.input == "graded" and q.readout.params.i_decay == 1024
    assert q.readout.params.v_decay == 2048
    assert info.quant_report.input_scale == 16.0
    assert info.quant_report.readout.scale > 0
    x = rng.uniform(0, 1, (10, 3, spec.n_in))
    np.testing.assert_array_equal(reference_run(back, x), reference_run(spec, x))
    xi = np.round(x * 16)
    np.testing.assert_array_equal(reference_run(q, xi), reference_run(info.quantized, xi))
