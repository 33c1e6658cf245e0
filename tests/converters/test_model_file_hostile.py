"""Hostile model files: links, external or virtual storage, references, extra members and size
bombs are refused with an error naming the member, before any of their data is read or hashed.

Each hostile file is a valid model file edited with h5py (with a matching checksum where the edit
would otherwise only be caught by the checksum), so only the structure check can refuse it. The
bombs declare hundreds of megabytes in a file of a few kilobytes: loading must fail without reading
them (h5py's dataset reads are recorded) and with little memory (tracemalloc).
"""

import struct
import tracemalloc

import h5py
import numpy as np
import pytest

from lava_nt.converters import model_file as mf
from lava_nt.converters.model_file import ModelFileError, load_model, save_model
from lava_nt.testing import random_spec

MB = 1 << 20


def _spec(sizes=(9, 8, 6), seed=0):
    return random_spec(seed, sizes, du=0.5, dv=0.2, vth=1.0, gain=1.0, weight_scale=1.0)


@pytest.fixture()
def model(tmp_path):
    path = tmp_path / "m.h5"
    save_model(path, _spec(), meta={"note": "x" * 777}, quantized=True)
    load_model(path)  # valid before the edit
    return path


def tamper(path, edit, fix_checksum=True):
    with h5py.File(path, "r+") as f:
        edit(f)
        if fix_checksum:
            f.attrs["checksum"] = mf._checksum(f)


class Reads(list):
    """Names of the datasets whose data h5py reads while ``load_model`` runs."""

    active = False


@pytest.fixture()
def reads(monkeypatch):
    seen = Reads()
    real = h5py.Dataset.__getitem__

    def getitem(self, key):
        if seen.active:
            seen.append(self.name)
        return real(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", getitem)
    return seen


def refused(path, *fragments, reads=None):
    if reads is not None:
        reads.active = True
    try:
        with pytest.raises(ModelFileError) as exc:
            load_model(path)
    finally:
        if reads is not None:
            reads.active = False
    msg = str(exc.value)
    assert str(path) in msg
    for frag in fragments:
        assert frag in msg, msg
    return msg


def _other_file(tmp_path, data):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = data
    return other


BIAS = "network/layer_0/neuron/bias"


def test_external_link_is_refused(model, tmp_path, reads):
    with h5py.File(model, "r") as f:
        bias = f[BIAS][()]
    other = _other_file(tmp_path, bias + 1.0)  # a valid value: the old loader took it

    def edit(f):
        del f[BIAS]
        f[BIAS] = h5py.ExternalLink(str(other), "/x")

    tamper(model, edit)
    refused(model, f"'/{BIAS}' is an external link", "other.h5", reads=reads)
    assert f"/{BIAS}" not in reads


def test_soft_link_is_refused(model, reads):
    def edit(f):
        del f["network/layer_0/neuron/gain"]
        f["network/layer_0/neuron/gain"] = h5py.SoftLink(f"/{BIAS}")

    tamper(model, edit)
    refused(model, "'/network/layer_0/neuron/gain' is a soft link", f"to '/{BIAS}'", reads=reads)
    assert reads == ["/architecture/sizes"]


def test_external_raw_storage_is_refused(model, tmp_path, reads):
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.full(8, 0.25).tobytes())

    def edit(f):
        del f[BIAS]
        f.create_dataset(BIAS, shape=(8,), dtype="<f8", external=[(str(raw), 0, 64)])

    tamper(model, edit)
    refused(model, f"dataset '/{BIAS}' keeps its data in external files", "raw.bin", reads=reads)
    assert f"/{BIAS}" not in reads


def test_virtual_dataset_is_refused(model, tmp_path, reads):
    other = _other_file(tmp_path, np.full(8, 0.25))

    def edit(f):
        layout = h5py.VirtualLayout(shape=(8,), dtype="<f8")
        layout[:] = h5py.VirtualSource(str(other), "x", shape=(8,))
        del f[BIAS]
        f.create_virtual_dataset(BIAS, layout)

    tamper(model, edit)
    refused(model, f"dataset '/{BIAS}' is a virtual dataset", reads=reads)
    assert f"/{BIAS}" not in reads


@pytest.mark.parametrize(
    "edit, fragments",
    [
        (
            lambda f: f["provenance"].attrs.__setitem__("meta", f["network"].ref),
            ["attribute 'meta' of '/provenance' holds object or region references"],
        ),
        (
            lambda f: f["network"].attrs.__setitem__(
                "fixed", f["architecture/sizes"].regionref[0:1]
            ),
            ["attribute 'fixed' of '/network' holds object or region references"],
        ),
        (
            lambda f: (
                f["network/layer_0/neuron"].__delitem__("du"),
                f["network/layer_0/neuron"].create_dataset(
                    "du", data=f["network"].ref, dtype=h5py.ref_dtype
                ),
            ),
            ["dataset '/network/layer_0/neuron/du' holds object or region references"],
        ),
    ],  # fmt: skip
)
def test_references_are_refused(model, edit, fragments, reads):
    tamper(model, edit)
    refused(model, *fragments, reads=reads)
    assert "/network/layer_0/neuron/du" not in reads


@pytest.mark.parametrize(
    "edit, fragments",
    [
        (lambda f: f.create_group("extra"), ["'/extra' is not part of a model file"]),
        (
            lambda f: f["network/layer_1/neuron"].create_dataset("notes", data=np.zeros(3)),
            ["'/network/layer_1/neuron/notes' is not part of a model file"],
        ),
        (
            lambda f: f["training"].attrs.__setitem__("comment", "hello"),
            ["attribute 'comment' of '/training' is not part of a model file"],
        ),
        (
            lambda f: f["quantized/layer_0"].__setitem__("t", np.dtype("<f8")),
            ["'/quantized/layer_0/t' is not part of a model file"],
        ),
        (
            lambda f: f["network/layer_0"].create_group("spiking_bias_extra"),
            ["'/network/layer_0/spiking_bias_extra' is not part of a model file"],
        ),
        (
            lambda f: (f.__delitem__("output"), f.create_dataset("output", data=1)),
            ["'/output' must be a group"],
        ),
        (
            lambda f: f["network/layer_0/neuron"].attrs.__setitem__("reset", np.zeros(2)),
            ["attribute 'reset' of '/network/layer_0/neuron' must be a string (a scalar)"],
        ),
    ],  # fmt: skip
)
def test_members_outside_the_layout_are_refused(model, edit, fragments):
    """The old loader hashed them (so the checksum matched) and accepted the file."""
    tamper(model, edit)
    refused(model, *fragments)


def _bomb(f, name, shape, fill=False):
    """Replace dataset ``name`` with a gzip-compressed one of ``shape`` holding zeros: a few
    kilobytes on disk, 8 bytes per element once read."""
    del f[name]
    ds = f.create_dataset(name, shape=shape, dtype="<f8", compression="gzip", compression_opts=9,
                          chunks=(min(shape[0], 1000),) + shape[1:])  # fmt: skip
    if fill:
        for i in range(0, shape[0], 1000):
            ds[i : i + 1000] = 0.0


def _fails_small(path, reads, bomb, *fragments):
    tracemalloc.start()
    try:
        refused(path, *fragments, reads=reads)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * MB, f"peak {peak / MB:.0f} MB"
    assert bomb not in reads
    return peak


def test_compression_bomb_with_a_shape_beyond_the_network_fails_fast(model, reads):
    name = "network/layer_0/weight"
    tamper(model, lambda f: _bomb(f, name, (5000, 5000), fill=True))  # 200 MB once read
    assert model.stat().st_size < 2 * MB
    _fails_small(model, reads, f"/{name}", f"dataset '/{name}' has shape (5000, 5000)",
                 "expected (8, 9)")  # fmt: skip


def test_small_file_declaring_a_huge_network_fails_fast(tmp_path, reads):
    """Every shape matches the declared network 5000 -> 5000 -> 6 (200 MB of weights), but the
    data is compressed (or not stored at all): refused before anything of it is read."""
    path = tmp_path / "m.h5"
    save_model(path, _spec())

    def declare_huge(f, fill):
        n = 5000
        sizes = np.array([n, n, 6], dtype=np.int64)
        del f["architecture/sizes"]
        f["architecture/sizes"] = sizes
        for g in (f["architecture"], f["network"]):
            g.attrs["n_in"] = n
        _bomb(f, "network/layer_0/weight", (n, n), fill=fill)
        _bomb(f, "network/layer_1/weight", (6, n))
        for name in ("bias", "gain"):
            _bomb(f, f"network/layer_0/neuron/{name}", (n,))

    tamper(path, lambda f: declare_huge(f, fill=True))
    _fails_small(path, reads, "/network/layer_0/weight",
                 "dataset '/network/layer_0/weight' is compressed")  # fmt: skip

    # the same without compression and without data (HDF5 would read fill values)
    def unallocated(f):
        del f["network/layer_0/weight"]
        f.create_dataset("network/layer_0/weight", shape=(5000, 5000), dtype="<f8")

    tamper(path, unallocated, fix_checksum=False)
    _fails_small(path, reads, "/network/layer_0/weight", "dataset '/network/layer_0/weight' "
                 "declares 200000000 bytes of data but stores 0")  # fmt: skip


def test_string_attribute_declaring_gigabytes_is_refused_unread(model, monkeypatch):
    """A variable-length string whose stored length says 2 GB: HDF5 would allocate that much
    before noticing that the file holds 790 bytes. The length is read from the raw header."""
    with h5py.File(model, "r") as f:
        meta = f["provenance"].attrs["meta"].encode()
    data = bytearray(model.read_bytes())
    gcols = [i for i in range(len(data)) if data[i : i + 4] == b"GCOL"]
    hits = [
        i
        for g in gcols
        for i in range(len(data) - 12)
        if data[i : i + 12] == struct.pack("<IQ", len(meta), g)
    ]
    assert len(hits) == 1  # the descriptor of /provenance@meta
    data[hits[0] : hits[0] + 4] = struct.pack("<I", 0x7FFFFFF0)
    model.write_bytes(bytes(data))
    read_attrs = []
    real = h5py.AttributeManager.__getitem__

    def getitem(self, name):
        read_attrs.append(name)
        return real(self, name)

    monkeypatch.setattr(h5py.AttributeManager, "__getitem__", getitem)
    refused(model, "attribute 'meta' of '/provenance' declares a string of 2147483632 bytes")
    assert "meta" not in read_attrs


def test_files_written_by_save_model_still_load_and_keep_loading_after_a_rewrite(model):
    spec, info = load_model(model)
    assert info.meta == {"note": "x" * 777} and info.quantized is not None
    mf.attach_quantized(model)  # a rewrite through the writer
    assert load_model(model)[1].quantized is not None
