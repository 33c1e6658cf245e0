"""The stored length of a variable-length string attribute, read from the raw object header.

HDF5 allocates the length a variable-length string *declares* before it finds out that the file
holds fewer bytes, so a small hostile file could make it allocate gigabytes while reading one
attribute. :func:`vlen_string_length` finds the attribute message in the object header (format
versions 1 and 2, continuation chunks included; HDF5 File Format Specification, "Data Object
Headers" and "The Attribute Message") and returns the sequence length stored there, without
reading the string. Every read is bounded by the file size.
"""

from __future__ import annotations

import os

from h5py import h5o

_UNDEFINED = 0xFF
_MSG_CONTINUATION = 0x0010
_MSG_ATTRIBUTE = 0x000C
_MSG_ATTRIBUTE_INFO = 0x0015
_CLASS_VLEN = 9
_MAX_CHUNKS = 256


class RawHeaderError(ValueError):
    """The object header could not be followed to the attribute's stored length."""


def _uint(b: bytes) -> int:
    return int.from_bytes(b, "little")


class _File:
    def __init__(self, fh, base: int, size: int):
        self.fh, self.base, self.size = fh, base, size

    def read(self, addr: int, n: int) -> bytes:
        """``n`` bytes at file address ``addr`` (relative to the base address), never past EOF."""
        pos = self.base + addr
        if addr < 0 or n < 0 or pos + n > self.size:
            raise RawHeaderError(f"object header data at {addr} + {n} lies beyond the file's end")
        self.fh.seek(pos)
        data = self.fh.read(n)
        if len(data) != n:
            raise RawHeaderError("short read in an object header")
        return data


def _chunks(raw: _File, chunks: list[tuple[int, int]]):
    """``(data, length)`` of each object header chunk ``(start, length)`` in ``chunks``, first
    in first out; the caller appends the continuation chunks it finds while reading one. At most
    ``_MAX_CHUNKS`` chunks are read (a loop of continuations cannot run forever)."""
    seen = 0
    while chunks:
        seen += 1
        if seen > _MAX_CHUNKS:
            raise RawHeaderError("too many object header continuation chunks")
        start, length = chunks.pop(0)
        yield raw.read(start, length), length


def _messages_v1(raw: _File, addr: int, sa: int, ss: int):
    head = raw.read(addr, 16)
    chunks = [(addr + 16, _uint(head[8:12]))]
    for data, length in _chunks(raw, chunks):
        off = 0
        while off + 8 <= length:
            mtype, msize = _uint(data[off : off + 2]), _uint(data[off + 2 : off + 4])
            mflags = data[off + 4]
            body = data[off + 8 : off + 8 + msize]
            if len(body) != msize:
                raise RawHeaderError("an object header message runs past its chunk")
            if mtype == _MSG_CONTINUATION:
                chunks.append((_uint(body[:sa]), _uint(body[sa : sa + ss])))
            yield mtype, mflags, body
            off += 8 + msize


def _messages_v2(raw: _File, addr: int, sa: int, ss: int):
    head = raw.read(addr, 6)
    if head[4] != 2:
        raise RawHeaderError(f"object header version {head[4]} is not known")
    flags = head[5]
    p = addr + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    width = 1 << (flags & 0x03)
    chunks = [(p + width, _uint(raw.read(p, width)))]
    hdr = 6 if flags & 0x04 else 4
    for data, length in _chunks(raw, chunks):
        off = 0
        while off + hdr <= length:
            mtype, msize, mflags = data[off], _uint(data[off + 1 : off + 3]), data[off + 3]
            body = data[off + hdr : off + hdr + msize]
            if len(body) != msize:
                break  # the gap at the end of a chunk
            if mtype == _MSG_CONTINUATION:
                c_addr, c_len = _uint(body[:sa]), _uint(body[sa : sa + ss])
                if raw.read(c_addr, 4) != b"OCHK" or c_len < 8:
                    raise RawHeaderError("bad object header continuation chunk")
                chunks.append((c_addr + 4, c_len - 8))  # signature and checksum excluded
            yield mtype, mflags, body
            off += hdr + msize


def _attribute(body: bytes, name: bytes):
    """``(datatype bytes, data bytes)`` of an attribute message named ``name``, else None."""
    version = body[0]
    nsz, dtsz, dssz = _uint(body[2:4]), _uint(body[4:6]), _uint(body[6:8])
    if version == 1:

        def pad(n):
            return (n + 7) // 8 * 8

        p = 8
        stored = body[p : p + nsz]
        p += pad(nsz)
        dt = body[p : p + dtsz]
        p += pad(dtsz) + pad(dssz)
    elif version in (2, 3):
        if body[1] & 0x01:
            raise RawHeaderError("an attribute with a shared datatype")
        p = 8 if version == 2 else 9
        stored = body[p : p + nsz]
        p += nsz
        dt = body[p : p + dtsz]
        p += dtsz + dssz
    else:
        raise RawHeaderError(f"attribute message version {version} is not known")
    if stored.split(b"\0", 1)[0] != name:
        return None
    return dt, body[p:]


def vlen_string_length(path, f, obj, name: str) -> int:
    """The length in bytes that the scalar variable-length string attribute ``name`` of ``obj``
    (an open h5py object in file ``f`` at ``path``) declares. Raises :class:`RawHeaderError`
    when that cannot be established from the object header."""
    info = h5o.get_info(obj.id)
    sa, ss = f.id.get_create_plist().get_sizes()
    base = f.id.get_create_plist().get_userblock()
    key = name.encode()
    dense = False
    with open(path, "rb") as fh:
        raw = _File(fh, base, os.fstat(fh.fileno()).st_size)
        first = raw.read(info.addr, 4)
        messages = _messages_v2 if first == b"OHDR" else _messages_v1
        if messages is _messages_v1 and first[0] != 1:
            raise RawHeaderError(f"object header version {first[0]} is not known")
        for mtype, mflags, body in messages(raw, info.addr, sa, ss):
            if mtype == _MSG_ATTRIBUTE_INFO:
                p = 2 + (2 if body[1] & 0x01 else 0)
                dense = any(b != _UNDEFINED for b in body[p : p + sa])
            if mtype != _MSG_ATTRIBUTE:
                continue
            if mflags & 0x02:
                raise RawHeaderError("a shared attribute message")
            found = _attribute(body, key)
            if found is None:
                continue
            dt, data = found
            if not dt or dt[0] & 0x0F != _CLASS_VLEN or len(data) < 4:
                raise RawHeaderError("the attribute is not a variable-length string")
            return _uint(data[:4])
    where = "dense attribute storage" if dense else "no attribute message"
    raise RawHeaderError(f"{where} holds attribute '{name}'")
