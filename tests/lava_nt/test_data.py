"""lava_nt.data: the documented .npz format loads, and every malformed file fails with a
DataError naming the file and the problem (before any large allocation for absurd sizes)."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import numpy as np
import pytest

from lava_nt.data import MAX_ELEMENTS, DataError, load_data


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _raw_npz(path, members: dict[str, tuple[dict, bytes]]):
    """An .npz whose members have hand-written .npy headers (shape/dtype may lie)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, (header, payload) in members.items():
            buf = io.BytesIO()
            np.lib.format.write_array_header_1_0(buf, header)
            zf.writestr(f"{name}.npy", buf.getvalue() + payload)
    return path


def test_spikes_static_and_labels_load(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.random((5, 4, 3)) < 0.5).astype(np.int8)
    y = np.array([0, 1, 2, 1], dtype=np.int32)
    d = load_data(_npz(tmp_path / "a.npz", x=x, y=y), n_in=3, n_classes=3)
    assert d.T == 5 and d.n_samples == 4 and d.n_in == 3 and not d.static
    np.testing.assert_array_equal(d.spikes(), x.astype(np.float64))
    assert d.y.dtype == np.int64
    np.testing.assert_array_equal(d.y, y)
    # static binary input: T from the file, or given (wins), or the default
    s = _npz(tmp_path / "s.npz", x=x[0].astype(bool), T=7)
    assert load_data(s).spikes().shape == (7, 4, 3)
    assert load_data(s, T=2).spikes().shape == (2, 4, 3)
    s2 = _npz(tmp_path / "s2.npz", x=x[0])
    assert load_data(s2, default_T=9).spikes().shape == (9, 4, 3)
    with pytest.raises(DataError, match="needs the number of steps T"):
        load_data(s2).spikes()
    # static graded input loads (for the torch engines) but is not spikes
    g = load_data(_npz(tmp_path / "g.npz", x=rng.normal(size=(4, 3)), T=5))
    assert g.static and g.x.dtype == np.float64
    with pytest.raises(DataError, match="graded values"):
        g.spikes()


@pytest.mark.parametrize(
    "arrays, kw, fragment",
    [
        ({"x": np.zeros((0, 4, 3))}, {}, "T = 0 steps"),
        ({"x": np.zeros((5, 0, 3))}, {}, "N = 0"),
        ({"x": np.zeros((4, 0))}, {}, "n_in = 0"),
        ({"x": np.zeros((4, 3)), "T": np.int64(0)}, {}, "T = 0"),
        ({"x": np.zeros((4, 3)), "T": np.float64(5)}, {}, "T must be one integer"),
        ({"x": np.zeros((4, 3)), "T": np.arange(3)}, {}, "T must be one integer"),
        ({"x": np.zeros((5, 4, 3)), "T": np.int64(6)}, {}, "holds 5 steps but T = 6"),
        ({"x": np.zeros((5, 4, 3))}, {"T": 4}, "holds 5 steps but T = 4 was asked for"),
        ({"x": np.zeros((5, 4, 3))}, {"n_in": 8}, "x has 3 inputs per sample, the model expects 8"),
        ({"x": np.zeros(6)}, {}, "must be spikes [T, N, n_in] or static [N, n_in]"),
        ({"x": np.array([["a", "b"]])}, {}, "x holds text"),
        ({"x": np.zeros((2, 2), dtype=complex)}, {}, "x holds complex"),
        ({"x": np.zeros(2, dtype=[("a", "f8"), ("b", "i4")])}, {}, "x holds structured"),
        ({"x": np.array([[np.datetime64("2020-01-01")]])}, {}, "x holds dates"),
        ({"x": np.array([[0.0, np.nan], [1.0, np.inf]])}, {}, "2 NaN or infinite values"),
        ({"x": np.full((2, 2, 2), 0.5)}, {}, "spikes x must be 0 or 1, found 0.5"),
        ({"x": np.zeros((3, 2)), "y": np.array([0, 1])}, {}, "y must hold 3 labels"),
        ({"x": np.zeros((3, 2)), "y": np.array([0.0, 1.0, 1.5])}, {}, "y holds float values"),
        ({"x": np.zeros((3, 2)), "y": np.array([True, False, True])}, {}, "y holds bool values"),
        ({"x": np.zeros((3, 2)), "y": np.array(["a", "b", "c"])}, {}, "y holds text"),
        ({"x": np.zeros((3, 2)), "y": np.array([0, -1, 1])}, {}, "negative label (-1 at index 1)"),
        (
            {"x": np.zeros((3, 2)), "y": np.array([0, 1, 2])},
            {"n_classes": 2},
            "label 2 (index 2), outside the model's 2 classes [0, 2)",
        ),
        ({"y": np.zeros(3, dtype=int)}, {}, "has no array 'x'"),
    ],
)
def test_malformed_content_is_refused(tmp_path, arrays, kw, fragment):
    path = _npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as info:
        load_data(path, **kw)
    msg = str(info.value)
    assert msg.startswith(f"data file '{path}': ")
    assert fragment in msg


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    class Boom:
        def __reduce__(self):
            return (print, ("pickle executed",))

    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([[Boom(), 1]], dtype=object))
    with pytest.raises(DataError, match="x holds Python objects"):
        load_data(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_data(tmp_path / "missing.npz")
    with pytest.raises(DataError, match="is not a file"):
        load_data(tmp_path)
    npy = tmp_path / "plain.npy"
    np.save(npy, np.zeros((2, 2)))
    with pytest.raises(DataError, match="not an .npz archive"):
        load_data(npy)
    good = _npz(tmp_path / "good.npz", x=np.zeros((3, 4, 2)))
    cut = tmp_path / "cut.npz"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cannot be read"):
        load_data(cut)
    lying = _raw_npz(  # header says 3x4x2 float64, payload is 8 bytes
        tmp_path / "lying.npz",
        {"x": ({"descr": "<f8", "fortran_order": False, "shape": (3, 4, 2)}, b"\0" * 8)},
    )
    with pytest.raises(DataError, match="cannot be read"):
        load_data(lying)


def test_absurd_sizes_fail_before_allocating(tmp_path):
    """A few-hundred-byte file declaring 10**13 values, and a static x declaring 10**12 steps,
    are refused from the headers: the check allocates (almost) nothing."""
    huge = _raw_npz(
        tmp_path / "huge.npz",
        {"x": ({"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6, 10)}, b"")},
    )
    assert huge.stat().st_size < 1000
    static = _npz(tmp_path / "static.npz", x=np.zeros((1000, 100), dtype=np.int8), T=10**12)
    tracemalloc.start()
    try:
        for path, frag in ((huge, "10,000,000,000,000 input values"), (static, "T=1000000000000")):
            with pytest.raises(DataError, match="more than the limit") as info:
                load_data(path)
            assert frag in str(info.value)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20
    assert MAX_ELEMENTS < 10**13
    small = _npz(tmp_path / "small.npz", x=np.zeros((4, 5, 6)))
    with pytest.raises(DataError, match="120 input values"):
        load_data(small, max_elements=100)


@pytest.mark.parametrize(
    "kw", [{"T": 0}, {"T": True}, {"T": "5"}, {"n_in": 2.0}, {"n_classes": -1}, {"default_T": 0}]
)
def test_bad_arguments(tmp_path, kw):
    path = _npz(tmp_path / "a.npz", x=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="must be a positive integer"):
        load_data(path, **kw)
