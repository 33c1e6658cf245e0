"""The SHA-256 content checksum stored in a model file's root ``checksum`` attribute.

It is defined over the values, not over their storage: every dataset is hashed as the float64 /
int64 array a reader returns (:func:`.storage.value`), so the compact storage of schema 6
(float32, int8 ... int32, compressed) and the float64 / int64 storage of older files give the
same checksum for the same network, and an old file's checksum is unchanged."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np

from lava_nt.converters.model_file.storage import value


def _checksum(f, read=value) -> str:
    """SHA-256 over every dataset (name, dtype, shape, bytes of its value as float64 / int64)
    and attribute, in sorted order, except the root ``checksum`` attribute itself.

    ``read`` turns a dataset's stored array into what is hashed; ``np.asarray`` (the stored
    bytes) is schema 5's definition, which equals this one on the float64 / int64 storage every
    schema-5 file has."""
    h = hashlib.sha256()

    def add_attrs(name, obj):
        for key in sorted(obj.attrs):
            if name == "/" and key == "checksum":
                continue
            val = obj.attrs[key]
            h.update(f"@{name}:{key}:{type(val).__name__}:".encode())
            if isinstance(val, bytes):
                h.update(val)
            elif isinstance(val, str):
                h.update(val.encode())
            else:
                arr = np.asarray(val)
                h.update(f"{arr.dtype.str}{arr.shape}".encode())
                h.update(arr.tobytes())

    add_attrs("/", f)
    names = []
    f.visit(names.append)
    for name in sorted(names):
        obj = f[name]
        add_attrs(name, obj)
        if isinstance(obj, h5py.Dataset):
            arr = read(obj[()])
            h.update(f"#{name}:{arr.dtype.str}{arr.shape}:".encode())
            h.update(arr.tobytes())
    return h.hexdigest()
