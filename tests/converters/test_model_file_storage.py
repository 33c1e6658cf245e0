"""Compact model files (schema 6): every array in its narrowest exact dtype, the large ones
compressed, read back bit for bit as float64 / int64; the checksum is over the values, so files
written before (float64 / int64, contiguous) load as they did; compressed storage other than the
writer's is refused; the command-line verbs open a compact file as they open an old one."""

import json

import h5py
import numpy as np
import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.cli import main
from lava_nt.converters import model_file as mf
from lava_nt.converters.model_file import (
    ModelFileError,
    load_model,
    load_network,
    save_model,
    storage,
)
from lava_nt.converters.model_file import write as write_module
from lava_nt.testing import random_spec


def _stored(path, name):
    with h5py.File(path, "r") as f:
        ds = f[name]
        return ds.dtype, ds.compression, ds.shuffle, ds.chunks, storage.value(ds[()])


def _write_read(tmp_path, a):
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as f:
        storage.write_dataset(f, "x", a)
    return _stored(path, "x")


@pytest.mark.parametrize(
    "lo, hi, want",
    [(-128, 127, np.int8), (-129, 0, np.int16), (0, 128, np.int16), (-32768, 32767, np.int16),
     (0, 32768, np.int32), (-(2**31), 2**31 - 1, np.int32), (-(2**31) - 1, 0, np.int64),
     (0, 2**40, np.int64)],
)  # fmt: skip
@pytest.mark.parametrize("n", [4, 3000])  # contiguous, and compressed
def test_integer_arrays_take_the_narrowest_width_and_read_back_exactly(tmp_path, lo, hi, want, n):
    rng = np.random.default_rng(n)
    a = rng.integers(-3, 3, n, endpoint=True, dtype=np.int64)  # small values: they compress
    a[:2] = lo, hi  # the range
    dtype, compression, shuffle, chunks, back = _write_read(tmp_path, a)
    assert dtype == want
    assert (compression, shuffle) == (("gzip", True) if n == 3000 else (None, False))
    assert back.dtype == np.int64 and np.array_equal(back, a)


def test_float_arrays_are_float32_only_where_every_value_is_one(tmp_path):
    rng = np.random.default_rng(0)
    exact = rng.normal(size=(50, 40)).astype(np.float32).astype(np.float64)
    inexact = exact.copy()
    inexact[3, 7] += 1e-12  # one value that is no float32
    cases = {
        "exact": (exact, np.float32),
        "inexact": (inexact, np.float64),
        # a float32 subnormal, a negative zero, an integer: float32; beyond float32: float64
        "small": (np.array([np.finfo(np.float32).tiny / 4, -0.0, 3.0]), np.float32),
        "large": (np.array([1e300, 1.0]), np.float64),
    }
    for name, (a, want) in cases.items():
        dtype, compression, _, chunks, back = _write_read(tmp_path, a)
        assert dtype == want, name
        assert back.dtype == np.float64 and back.tobytes() == a.tobytes(), name
        if name == "exact":
            assert compression == "gzip" and chunks == a.shape  # one chunk of its shape
    # something that compresses too well is stored as it is (a reader bounds the expansion)
    dtype, compression, _, _, back = _write_read(tmp_path, np.zeros((200, 100)))
    assert dtype == np.float32 and compression is None and not back.any()


def _f32_spec(seed=0, sizes=(100, 80, 20), spiking_bias=("per_neuron", None)):
    """A float network whose weights hold float32 values (as trained in float32) and whose
    biases do not, by default with a masked spiking bias on layer 0."""
    spec = random_spec(seed, sizes, spiking_bias=spiking_bias, sb_density=0.3)
    for ls in spec.layers:
        ls.weight = ls.weight.astype(np.float32).astype(np.float64)
    return spec


def _old_checksum(f) -> str:
    """The checksum as schema 5 defined it: over the stored bytes of every dataset."""
    return mf._checksum(f, read=np.asarray)


def _save_the_old_way(path, spec, monkeypatch, **kw):
    """What save_model wrote before schema 6: every array as given (float64 / int64),
    contiguous, schema version 5."""
    with monkeypatch.context() as m:
        m.setattr(write_module, "write_dataset", lambda g, name, a: g.create_dataset(name, data=a))
        m.setattr(write_module, "SCHEMA_VERSION", 5)
        save_model(path, spec, **kw)


def _datasets(path) -> dict:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o) if isinstance(o, h5py.Dataset) else None)
        return {n: (o.dtype, o.compression, storage.value(o[()])) for n, o in out.items()}


def _same(x, y, where):
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), where
    else:
        assert type(x) is type(y) and x == y, where


def _same_spec(a, b):
    """Every array and parameter of two specs equal, dtype and bits."""
    for k, (la, lb) in enumerate(zip(a.layers, b.layers, strict=True)):
        _same(la.weight, lb.weight, f"layer {k} weight")
        for name, v in la.neuron._asdict().items():
            _same(v, getattr(lb.neuron, name), f"layer {k} {name}")
        if la.spiking_bias is not None:
            sa, sb = la.spiking_bias, lb.spiking_bias
            for name in ("w_in", "mask"):
                _same(getattr(sa, name), getattr(sb, name), f"layer {k} {name}")
            for name, v in sa.params._asdict().items():
                _same(v, getattr(sb.params, name), f"layer {k} spiking bias {name}")


def test_old_files_load_as_before_and_compact_files_hold_the_same_values(tmp_path, monkeypatch):
    spec = _f32_spec()
    meta = {"seed": 1, "n_classes": 2}
    old, new = tmp_path / "old.h5", tmp_path / "new.h5"
    _save_the_old_way(old, spec, monkeypatch, quantized=True, meta=meta)
    save_model(new, spec, quantized=True, meta=meta)
    with h5py.File(old, "r") as f:  # the old format, with the old checksum
        assert f.attrs["schema_version"] == 5
        assert f.attrs["checksum"] == _old_checksum(f) == mf._checksum(f)
    olds, news = _datasets(old), _datasets(new)
    assert sorted(olds) == sorted(news)
    for name, (dtype, compression, val) in olds.items():
        assert dtype in (np.float64, np.int64, bool) and compression is None, name
        ndtype, _, nval = news[name]
        assert nval.dtype == val.dtype and nval.tobytes() == val.tobytes(), name
    # the compact storage: float32 weights (not the biases), narrow registers, compressed
    assert news["network/layer_0/weight"][:2] == (np.float32, "gzip")
    assert news["network/layer_0/neuron/bias"][0] == np.float64
    assert news["quantized/layer_0/weight"][0].itemsize <= 2
    assert news["quantized/layer_0/neuron/bias_mant"][0].itemsize <= 2
    with h5py.File(new, "r") as f:  # the checksum is over the values, not the storage
        assert f.attrs["schema_version"] == mf.SCHEMA_VERSION == 6
        assert f.attrs["checksum"] == mf._checksum(f) != _old_checksum(f)
    (s_old, i_old), (s_new, i_new) = load_model(old), load_model(new)
    _same_spec(s_old, spec)
    _same_spec(s_new, s_old)
    _same_spec(i_new.quantized, i_old.quantized)
    assert (i_old.schema_version, i_new.schema_version) == (5, 6)
    assert i_new.quant_report.to_dict() == i_old.quant_report.to_dict()
    assert new.stat().st_size < 0.5 * old.stat().st_size


def test_network_round_trip_stays_bitwise_with_compact_storage(tmp_path):
    for dtype in (torch.float32, torch.float64):
        net = build_network(60, [40], n_classes=2, population=5, seed=2, dtype=dtype)
        path = tmp_path / f"{dtype}.h5".replace("torch.", "")
        save_model(path, net, quantized=True)
        back, info = load_network(path)
        for k, v in net.state_dict().items():
            assert back.state_dict()[k].dtype == v.dtype and torch.equal(back.state_dict()[k], v)
        with h5py.File(path, "r") as f:
            w = f["network/layer_0/weight"]
            want = np.float32 if dtype == torch.float32 else np.float64
            assert w.dtype == want and w.compression == "gzip"
        assert info.quantized is not None


# ---- compressed storage a writer does not produce -----------------------------------------------
def _model(tmp_path):
    path = tmp_path / "m.h5"
    save_model(path, _f32_spec(sizes=(40, 30, 10)))
    return path


def _restore(f, name, **kw):
    data = f[name][()]
    del f[name]
    f.create_dataset(name, data=kw.pop("data", data), **kw)
    f.attrs["checksum"] = mf._checksum(f)


W = "network/layer_0/weight"


@pytest.mark.parametrize(
    "kw, fragments",
    [
        (dict(data=np.zeros((30, 40)), chunks=(30, 40), shuffle=True, compression="gzip"),
         ["is compressed 9600 bytes into", "more than the 64:1"]),
        (dict(chunks=(30, 40)), ["chunked storage without compression"]),
        (dict(chunks=(15, 40), shuffle=True, compression="gzip"), ["in chunks of (15, 40)"]),
        (dict(chunks=(30, 40), compression="gzip"), ["is compressed or filtered with deflate"]),
        (dict(chunks=(30, 40), compression="lzf"), ["is compressed or filtered with filter"]),
    ],
)  # fmt: skip
def test_other_compressed_storage_is_refused(tmp_path, kw, fragments):
    path = _model(tmp_path)
    load_model(path)
    with h5py.File(path, "r+") as f:
        _restore(f, W, **kw)
    with pytest.raises(ModelFileError) as exc:
        load_model(path)
    for frag in [f"dataset '/{W}'", *fragments]:
        assert frag in str(exc.value), str(exc.value)


def test_a_flipped_byte_inside_a_compressed_chunk_is_detected(tmp_path):
    path = _model(tmp_path)
    with h5py.File(path, "r") as f:
        assert f[W].compression == "gzip"
        info = f[W].id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    data[info.byte_offset + info.size // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupt|checksum mismatch"):
        load_model(path)


# ---- the command-line verbs on a compact file ---------------------------------------------------
def test_cli_verbs_open_a_compact_file_as_an_old_one(tmp_path, monkeypatch, capsys):
    spec = _f32_spec(3, sizes=(40, 30, 10), spiking_bias=False)  # stock Lava (netx) runs it
    old, new = tmp_path / "old.h5", tmp_path / "new.h5"
    _save_the_old_way(old, spec, monkeypatch, quantized=True, meta={"n_classes": 2})
    save_model(new, spec, quantized=True, meta={"n_classes": 2})
    with h5py.File(new, "r") as f:
        assert f["network/layer_0/weight"].compression == "gzip"
    rng = np.random.default_rng(5)
    data = tmp_path / "data.npz"
    np.savez(data, x=(rng.random((10, 12, 40)) < 0.3).astype(np.int8), y=rng.integers(0, 2, 12))
    results = {}
    for name, path in (("old", old), ("new", new)):
        out = tmp_path / f"{name}.json"
        assert main(["evaluate", str(path), "--data", str(data), "--out", str(out)]) == 0
        results[name] = json.loads(out.read_text())
        rep = tmp_path / f"{name}-report.json"
        assert main(["report", str(path), "--json", str(rep)]) == 0
        results[name + "-report"] = json.loads(rep.read_text())
        assert main(["export-netx", str(path), str(tmp_path / f"{name}-netx.h5")]) == 0
    capsys.readouterr()

    def drop_paths(d):
        return {k: v for k, v in d.items() if k not in ("model", "path", "file", "data")}

    assert drop_paths(results["new"]) == drop_paths(results["old"])
    assert drop_paths(results["new-report"]) == drop_paths(results["old-report"])
    assert results["new"]["accuracy"] is not None
    with h5py.File(tmp_path / "old-netx.h5") as a, h5py.File(tmp_path / "new-netx.h5") as b:
        names = []
        a.visit(names.append)
        for n in names:
            if isinstance(a[n], h5py.Dataset):
                assert np.array_equal(a[n][()], b[n][()]), n
