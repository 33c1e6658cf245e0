"""How a model file stores its arrays: lossless and compact, with the values defined once.

The values of a model file are float64 and int64 arrays (and booleans); what the file stores is
the narrowest exact form of each:

* a float array as float32 when every value survives ``float64 -> float32 -> float64`` unchanged
  (a network trained in float32, or frozen float32 weights of one tuned in float64), else as
  float64;
* an integer array in the narrowest of int8, int16, int32 and int64 that holds its range (the
  quantised registers: 8-bit weight mantissas, 13-bit bias mantissas, 12-bit decays, ...);
* an array of at least :data:`COMPRESS_MIN_BYTES` (after narrowing) in one chunk of its own shape
  with HDF5's byte shuffle and deflate (gzip) filters, unless that expands more than
  :data:`MAX_EXPANSION` times on reading (then contiguously, uncompressed) or saves nothing.

Readers return float64 and int64 arrays as before (:func:`value`), so a file stored either way
loads to the same values bit for bit, and the checksum is defined over those values, not over
the storage (:mod:`.checksum`). The structure check (:mod:`.structure`) accepts exactly this
compressed storage: these filters in this order, one allocated chunk, at most
:data:`MAX_EXPANSION` declared bytes per stored byte, so what loading reads stays bounded by
the file's size times :data:`MAX_EXPANSION`.
"""

from __future__ import annotations

import zlib

import numpy as np
from h5py import h5z

#: Arrays of at least this many bytes (as stored) are compressed.
COMPRESS_MIN_BYTES = 1024
#: The most bytes one stored byte of a compressed dataset may expand to when read.
MAX_EXPANSION = 64
#: The filters of a compressed dataset, in pipeline order: byte shuffle, then deflate.
FILTERS = (h5z.FILTER_SHUFFLE, h5z.FILTER_DEFLATE)
FILTER_NAMES = {h5z.FILTER_SHUFFLE: "shuffle", h5z.FILTER_DEFLATE: "deflate"}
GZIP_LEVEL = 6
_INT_TYPES = (np.int8, np.int16, np.int32, np.int64)


def narrowest(arr: np.ndarray) -> np.ndarray:
    """``arr`` in the narrowest dtype that holds every value exactly: float32 or float64 for
    floats, int8 to int64 for integers (booleans and others unchanged)."""
    a = np.asarray(arr)
    if a.dtype.kind == "f":
        a = a.astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):  # beyond float32: not exact
            f32 = a.astype(np.float32)
            exact = np.array_equal(f32.astype(np.float64), a)
        return f32 if exact else a
    if a.dtype.kind in "iu":
        a = a.astype(np.int64)
        if a.size == 0:
            return a.astype(np.int8)
        lo, hi = int(a.min()), int(a.max())
        for t in _INT_TYPES:
            info = np.iinfo(t)
            if info.min <= lo and hi <= info.max:
                return a.astype(t)
    return a


def value(arr) -> np.ndarray:
    """What a stored array means: floats as float64, integers as int64, little-endian (the
    form readers return and the checksum hashes)."""
    a = np.asarray(arr)
    if a.dtype.kind == "f":
        return a.astype("<f8")
    if a.dtype.kind in "iu":
        return a.astype("<i8")
    return a


def _worth_compressing(a: np.ndarray) -> bool:
    """Whether shuffle + deflate of ``a`` (one chunk) saves bytes and stays within
    :data:`MAX_EXPANSION` (estimated in memory with zlib, as HDF5's filters compute it)."""
    if a.ndim == 0 or a.nbytes < COMPRESS_MIN_BYTES:
        return False
    raw = np.ascontiguousarray(a).view(np.uint8).reshape(-1, a.dtype.itemsize)
    size = len(zlib.compress(raw.T.tobytes(), GZIP_LEVEL))
    return size < a.nbytes and a.nbytes <= MAX_EXPANSION * size


def write_dataset(g, name: str, arr) -> None:
    """Store ``arr`` as dataset ``name`` of group ``g`` in its narrowest exact dtype, compressed
    when that saves bytes and stays within :data:`MAX_EXPANSION` (checked on what HDF5 stored)."""
    a = narrowest(arr)
    if not _worth_compressing(a):
        g.create_dataset(name, data=a)
        return
    ds = g.create_dataset(
        name, data=a, chunks=a.shape, shuffle=True, compression="gzip",
        compression_opts=GZIP_LEVEL,
    )  # fmt: skip
    stored = ds.id.get_storage_size()
    if stored < a.nbytes and a.nbytes <= MAX_EXPANSION * stored:
        return
    del g[name]  # HDF5's deflate differed from the estimate: stored as it is
    g.create_dataset(name, data=a)
