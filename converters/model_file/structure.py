"""What a model file may contain, checked before any of its data is read or hashed.

:func:`check_structure` walks the file along the layout of :mod:`.schema` without following a
single link and without reading a dataset, and refuses (with :class:`ModelFileError` naming the
member):

* links other than hard links: external links (they open other files) and soft links (a model
  file has none; a soft link can point anywhere, also into an external link);
* datasets whose data lives elsewhere: external raw storage (``dataset.external``, other files)
  and virtual datasets (other files or datasets);
* object and region references, in datasets and attributes (they point at other members);
* every group, dataset or attribute outside the layout (it would be hashed but never validated),
  a group where a dataset belongs and vice versa, committed datatypes;
* dtypes other than the layout's (floating point, integer, boolean; strings, integers and
  booleans for attributes, all scalar), shapes other than the declared network needs
  (``/architecture/sizes`` and each spiking bias's ``m`` give every dataset's shape);
* storage that could make a small file expand: compression other than the writer's
  (:mod:`.storage`: byte shuffle + deflate, one chunk of the dataset's shape, at most
  ``storage.MAX_EXPANSION`` declared bytes per stored byte), other filters, chunking without
  compression, datasets whose declared bytes are not stored in the file (unallocated, or beyond
  its end), more stored dataset bytes in total than the file holds, and variable-length strings
  that declare more bytes than the file holds (read from the raw object header,
  :mod:`.hdf5_raw`, because HDF5 would allocate the declared length first).

So what loading reads is bounded by the file's size (times ``storage.MAX_EXPANSION`` for
compressed datasets): a small file that declares gigabytes, or a compression bomb, fails here in
milliseconds without allocating its declared size. Only then is the checksum computed and the
content validated (:mod:`.read`).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
from h5py import h5a, h5d, h5l, h5o

from lava_nt.converters.model_file import schema, storage
from lava_nt.converters.model_file.errors import ModelFileError
from lava_nt.converters.model_file.hdf5_raw import RawHeaderError, vlen_string_length

_KIND_NAMES = {"f": "floating-point", "i": "integer", "b": "boolean"}
_KIND_OK = {
    "f": lambda dt: dt.kind == "f",
    "i": lambda dt: dt.kind in "iu",
    "b": lambda dt: dt.kind == "b",
}


def _join(g, name: str) -> str:
    base = g.name.rstrip("/")
    return f"{base}/{name}" if base else f"/{name}"


def _has_reference(dt: np.dtype) -> bool:
    if h5py.check_dtype(ref=dt) is not None:
        return True
    if dt.subdtype is not None:
        return _has_reference(dt.subdtype[0])
    if dt.fields:
        return any(_has_reference(f[0]) for f in dt.fields.values())
    vlen = h5py.check_dtype(vlen=dt)
    return vlen is not None and vlen not in (str, bytes) and _has_reference(np.dtype(vlen))


class _Checker:
    def __init__(self, f, path):
        self.f = f
        self.path = Path(path)
        self.file_size = os.path.getsize(path)
        self.declared = 0  # dataset bytes declared so far

    def fail(self, message: str):
        raise ModelFileError(self.path, message)

    # -- links and members --------------------------------------------------------------------
    def _names(self, g, limit: int) -> list[bytes]:
        """Up to ``limit + 1`` link names of ``g`` (more cannot all be allowed)."""
        names: list[bytes] = []

        def take(name):
            names.append(name)
            return True if len(names) > limit else None

        g.id.links.iterate(take)
        return names

    def members(self, g, groups=(), datasets=(), optional=()) -> None:
        """``g`` holds hard links to the named groups and datasets only (all but ``optional``
        required), each of the right object type."""
        allowed = set(groups) | set(datasets)
        present = set()
        for bname in self._names(g, len(allowed)):
            name = bname.decode("utf-8", "replace")
            where = _join(g, name)
            kind = g.id.links.get_info(bname).type
            if kind == h5l.TYPE_EXTERNAL:
                link = g.get(name, getlink=True)
                self.fail(
                    f"'{where}' is an external link (to '{link.path}' in file '{link.filename}'): "
                    "a model file holds no links, and following it would read another file"
                )
            if kind == h5l.TYPE_SOFT:
                link = g.get(name, getlink=True)
                self.fail(
                    f"'{where}' is a soft link (to '{link.path}'): a model file holds no links"
                )
            if kind != h5l.TYPE_HARD:
                self.fail(f"'{where}' is a user-defined link: a model file holds no links")
            if name not in allowed:
                self.fail(f"'{where}' is not part of a model file (extra member)")
            otype = h5o.get_info(g.id, bname).type
            if name in groups and otype != h5o.TYPE_GROUP:
                self.fail(f"'{where}' must be a group")
            if name in datasets and otype != h5o.TYPE_DATASET:
                self.fail(f"'{where}' must be a dataset")
            present.add(name)
        for name in sorted(allowed - present - set(optional)):
            what = "group" if name in groups else "dataset"
            self.fail(f"missing {what} '{_join(g, name)}'")

    # -- attributes ---------------------------------------------------------------------------
    def attrs(self, obj, spec: dict, optional=()) -> None:
        """``obj`` has exactly the attributes of ``spec`` (name -> str / int / bool; all but
        ``optional`` required), scalar, of that kind, strings no longer than the file."""
        names: list[bytes] = []

        def take(name, *_):
            names.append(name)
            return True if len(names) > len(spec) else None

        h5a.iterate(obj.id, take)
        present = set()
        for bname in names:
            name = bname.decode("utf-8", "replace")
            if name not in spec:
                self.fail(
                    f"attribute '{name}' of '{obj.name}' is not part of a model file (extra member)"
                )
            present.add(name)
            self._attr(obj, name, spec[name])
        for name in spec:
            if name not in present and name not in optional:
                self.fail(f"missing attribute '{name}' of '{obj.name}'")

    def _attr(self, obj, name: str, kind) -> None:
        aid = h5a.open(obj.id, name.encode())
        dt, shape = aid.dtype, aid.shape
        what = f"attribute '{name}' of '{obj.name}'"
        if _has_reference(dt):
            self.fail(f"{what} holds object or region references: a model file holds none")
        want = {str: "a string", int: "an integer", bool: "a boolean"}[kind]
        if shape != ():
            self.fail(f"{what} must be {want} (a scalar), found shape {shape}")
        if kind is str:
            info = h5py.check_string_dtype(dt)
            if info is None:
                self.fail(f"{what} must be a string")
            if info.length is None:
                try:
                    size = vlen_string_length(self.path, self.f, obj, name)
                except RawHeaderError as exc:
                    self.fail(f"{what}: cannot verify the stored length of its string ({exc})")
            else:
                size = dt.itemsize
            if size > self.file_size:
                self.fail(
                    f"{what} declares a string of {size} bytes, more than the file's "
                    f"{self.file_size} bytes"
                )
        elif kind is int and dt.kind not in "iu" or kind is bool and dt.kind != "b":
            self.fail(f"{what} must be {want}")

    def read_attr(self, obj, name: str):
        """An attribute already checked by :meth:`attrs`."""
        val = obj.attrs[name]
        return val.decode() if isinstance(val, bytes) else val

    # -- datasets -----------------------------------------------------------------------------
    def dataset(self, g, name: str, kind: str, shape: tuple) -> None:
        ds = g[name]  # a hard link (checked by members)
        where = f"dataset '{ds.name}'"
        dt = ds.dtype
        if _has_reference(dt):
            self.fail(f"{where} holds object or region references: a model file holds none")
        dcpl = ds.id.get_create_plist()
        layout = dcpl.get_layout()
        if layout == h5d.VIRTUAL:
            self.fail(
                f"{where} is a virtual dataset (its data would come from other datasets or "
                "files): a model file stores its own data"
            )
        n_ext = dcpl.get_external_count()
        if n_ext:
            files = [dcpl.get_external(i)[0].decode("utf-8", "replace") for i in range(n_ext)]
            self.fail(
                f"{where} keeps its data in external files {files}: a model file stores its own "
                "data"
            )
        if not _KIND_OK[kind](dt):
            self.fail(f"{where} must be {_KIND_NAMES[kind]}, found dtype {dt}")
        if ds.shape != shape:
            self.fail(f"{where} has shape {ds.shape}, expected {shape}")
        nbytes = int(np.prod(shape, dtype=object)) * dt.itemsize
        if dcpl.get_nfilters() or layout == h5d.CHUNKED:
            stored, offset = self._compressed(ds, dcpl, where, nbytes)
        elif layout in (h5d.CONTIGUOUS, h5d.COMPACT):
            stored = ds.id.get_storage_size()
            if stored != nbytes:
                self.fail(f"{where} declares {nbytes} bytes of data but stores {stored}")
            offset = ds.id.get_offset() if layout == h5d.CONTIGUOUS else 0
        else:
            self.fail(f"{where} has an unknown storage layout")
        if stored and (offset is None or offset + stored > self.file_size):
            self.fail(f"{where} declares data beyond the end of the file")
        self.declared += stored
        if self.declared > self.file_size:
            self.fail(
                f"the datasets up to {where} declare {self.declared} bytes, more than the "
                f"file's {self.file_size} bytes"
            )

    def _compressed(self, ds, dcpl, where: str, nbytes: int) -> tuple[int, int | None]:
        """``(stored bytes, file offset)`` of a compressed dataset, refused unless stored as
        :mod:`.storage` writes it: shuffle + deflate, one allocated chunk of the dataset's
        shape, at most ``MAX_EXPANSION`` declared bytes per stored byte."""
        filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
        if not filters:
            self.fail(
                f"{where} has chunked storage without compression: a model file stores a "
                "dataset contiguously, or compressed as one chunk"
            )
        if tuple(filters) != storage.FILTERS:
            names = [storage.FILTER_NAMES.get(c, f"filter {c}") for c in filters]
            self.fail(
                f"{where} is compressed or filtered with {' + '.join(names)} in chunks: a model "
                "file compresses a dataset only with shuffle + deflate (gzip)"
            )
        chunk = dcpl.get_chunk()
        if tuple(chunk) != ds.shape:
            self.fail(
                f"{where} is compressed in chunks of {tuple(chunk)}: a model file stores a "
                f"compressed dataset as one chunk of its shape {ds.shape}"
            )
        if ds.id.get_num_chunks() != 1:
            self.fail(f"{where} declares {nbytes} bytes of data but stores 0")
        info = ds.id.get_chunk_info(0)
        stored = int(info.size)
        if nbytes > storage.MAX_EXPANSION * stored:
            self.fail(
                f"{where} is compressed {nbytes} bytes into {stored}: more than the "
                f"{storage.MAX_EXPANSION}:1 a model file allows (a compression bomb?)"
            )
        return stored, info.byte_offset

    def datasets(self, g, spec: dict, dims: dict, present=None) -> None:
        for name, (kind, shape) in spec.items():
            if present is None or name in present:
                self.dataset(g, name, kind, tuple(dims[d] if isinstance(d, str) else d
                                                  for d in shape))  # fmt: skip

    # -- the network groups -------------------------------------------------------------------
    def network(self, g, sizes: list[int], attrs: dict, version: int = schema.SCHEMA_VERSION):
        if version >= 2:
            attrs = {**attrs, **schema.NETWORK_INPUT_ATTR}
        self.attrs(g, attrs)
        fixed = bool(self.read_attr(g, "fixed"))
        n_in, nl = int(self.read_attr(g, "n_in")), int(self.read_attr(g, "n_layers"))
        if n_in != sizes[0] or nl != len(sizes) - 1:
            self.fail(
                f"'{g.name}' has n_in={n_in} and {nl} layers, the architecture says sizes {sizes}"
            )
        layers = [f"layer_{k}" for k in range(nl)]
        self.members(g, groups=(*layers, "readout") if version >= 2 else layers,
                     optional=("readout",))  # fmt: skip
        if "readout" in g:
            rg = g["readout"]
            self.attrs(rg, schema.READOUT_ATTRS[fixed])
            n_r = int(self.read_attr(rg, "n"))
            if n_r <= 0:
                self.fail(f"attribute 'n' of '{rg.name}' must be positive, got {n_r}")
            self.members(rg, datasets=schema.READOUT_DATASETS[fixed])
            self.datasets(rg, schema.READOUT_DATASETS[fixed], {"n": n_r, "n_prev": sizes[-1]})
        for k, lname in enumerate(layers):
            lg = g[lname]
            dims = {"n_prev": sizes[k], "n": sizes[k + 1]}
            self.attrs(lg, schema.LAYER_ATTRS[fixed])
            extra = schema.OPTIONAL_LAYER_DATASETS if version >= schema.DELAY_VERSION else {}
            self.members(lg, groups=("neuron", "spiking_bias"), datasets=("weight", *extra),
                         optional=("spiking_bias", *extra))  # fmt: skip
            self.dataset(lg, "weight", "i" if fixed else "f", (dims["n"], dims["n_prev"]))
            self.datasets(lg, extra, dims, present=set(lg))
            ng = lg["neuron"]
            self.attrs(ng, schema.NEURON_ATTRS)
            self.members(ng, datasets=schema.NEURON_DATASETS[fixed])
            self.datasets(ng, _neuron_datasets(ng, fixed, version, dims["n"]), dims)
            if "spiking_bias" not in lg:
                continue
            sg = lg["spiking_bias"]
            self.attrs(sg, schema.SPIKING_BIAS_ATTRS[fixed])
            m = int(self.read_attr(sg, "m"))
            if m <= 0:
                self.fail(f"attribute 'm' of '{sg.name}' must be positive, got {m}")
            dims["m"] = m
            main = schema.spiking_bias_datasets(fixed, version)
            extra = schema.OPTIONAL_SPIKING_BIAS_DATASETS
            self.members(sg, datasets=(*main, *extra), optional=extra)
            self.datasets(sg, main, dims)
            self.datasets(sg, extra, dims, present=set(sg))


def _neuron_datasets(ng, fixed: bool, version: int, n: int) -> dict:
    """The neuron datasets with their expected shapes: from version 5 on, ``du`` and ``dv`` may
    be a scalar or hold one value per neuron (whichever the file stores is expected)."""
    sets = dict(schema.NEURON_DATASETS[fixed])
    if version >= schema.PER_NEURON_DECAY_VERSION:
        for name in schema.PER_NEURON_DECAYS:
            if ng[name].shape == (n,):
                sets[name] = (sets[name][0], ("n",))
    return sets


def read_header(f, path) -> tuple[object, object]:
    """The root ``format`` and ``schema_version`` attributes, each checked before it is read
    (None where absent or not of the expected kind)."""
    c = _Checker(f, path)
    out = []
    for name, kind in (("format", str), ("schema_version", int)):
        if not h5a.exists(f.id, name.encode()):
            out.append(None)
            continue
        try:
            c._attr(f, name, kind)
        except ModelFileError:
            out.append(None)
            continue
        out.append(c.read_attr(f, name))
    return out[0], out[1]


def check_structure(f, path) -> None:
    """Refuse everything a model file may not contain (module docstring), reading no data but
    the few scalars and ``/architecture/sizes`` that define the expected layout."""
    c = _Checker(f, path)
    c.attrs(f, schema.ROOT_ATTRS)
    c.members(f, groups=(*schema.ROOT_GROUPS, *schema.OPTIONAL_ROOT_GROUPS),
              optional=schema.OPTIONAL_ROOT_GROUPS)  # fmt: skip
    arch = f["architecture"]
    c.attrs(arch, schema.ARCHITECTURE_ATTRS)
    nl = int(c.read_attr(arch, "n_layers"))
    if nl < 1:
        c.fail(f"'/architecture' declares {nl} layers")
    n_links = len(f["network"])  # bounds the declared size lists by what the file holds
    if nl > n_links:
        c.fail(f"'/architecture' declares {nl} layers, '/network' holds {n_links} members")
    c.members(arch, datasets=("sizes",))
    c.dataset(arch, "sizes", "i", (nl + 1,))
    sizes = [int(s) for s in arch["sizes"][()]]
    if any(s <= 0 for s in sizes):
        c.fail(f"'/architecture/sizes' must list at least two positive sizes, got {sizes}")
    version = int(c.read_attr(f, "schema_version"))
    c.network(f["network"], sizes, schema.NETWORK_ATTRS, version)
    if "quantized" in f:
        c.network(f["quantized"], sizes, schema.QUANTIZED_ATTRS, version)
    for name, spec in (("training", schema.TRAINING_ATTRS), ("output", schema.OUTPUT_ATTRS),
                       ("provenance", schema.PROVENANCE_ATTRS)):  # fmt: skip
        c.attrs(f[name], spec)
        c.members(f[name])
