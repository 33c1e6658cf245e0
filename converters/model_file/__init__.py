"""lava-nt model files: one HDF5 file per trained / tuned network (schema in docs/model_file.md).

:func:`save_model` writes a :class:`~lava_nt.network.NetworkSpec` or an
:class:`~lava_nt.nn.network.NTNetwork` with everything needed to run, re-train, deploy and audit
it: architecture, per-layer neuron parameters, weights, spiking biases, which tensors were
trainable and by which tuning method(s), trainable-parameter counts, output coding, surrogate
settings, provenance and optionally an attached fixed-point (quantised) spec with its report.

Files are written atomically (a temporary file in the same directory, fsync, then rename), carry
a schema version and a SHA-256 checksum of their content, and an existing file is never replaced
unless ``overwrite=True``. :func:`load_model` treats a file as hostile until its structure is
checked: format and schema version, then, before any data is read or hashed, no links, no
external or virtual storage, no references, no member outside the layout, dtypes and shapes as
the declared network needs, nothing that can expand beyond the file's size; then the checksum,
finite values and every range via the spec validators. It raises :class:`ModelFileError` naming
the file and what is wrong (and the member, for a refused one).

Arrays are stored losslessly in their narrowest exact dtype (float32 where every value is a
float32, else float64; int8 to int64 by range), the large ones compressed (shuffle + gzip) and
read back as float64 / int64 (:mod:`~.storage`), so ``NTNetwork -> file -> NTNetwork``
(:func:`load_network`) is bit-exact in float32 and float64, and files written with float64 /
int64 arrays before schema 6 load exactly as before.

Modules: :mod:`~.errors`, :mod:`~.schema` (format, version, the layout, :class:`ModelInfo`),
:mod:`~.atomic` (atomic HDF5 writing), :mod:`~.storage` (compact lossless arrays),
:mod:`~.checksum` (over the values), :mod:`~.write` (:func:`save_model`,
:func:`attach_quantized`), :mod:`~.structure` (what a file may not contain, checked before
reading), :mod:`~.hdf5_raw` (stored string lengths from the raw object header), :mod:`~.read`
(:func:`load_model`), :mod:`~.network` (:func:`network_from_model`, :func:`load_network`),
:mod:`~.resolve` (:func:`resolve_model`: a spec, a network or a path, accepted one way).
"""

from lava_nt.converters.model_file.atomic import atomic_h5_write, atomic_write
from lava_nt.converters.model_file.checksum import _checksum as _checksum
from lava_nt.converters.model_file.errors import ModelFileError, ModelFileExistsError
from lava_nt.converters.model_file.network import load_network, network_from_model
from lava_nt.converters.model_file.read import load_model
from lava_nt.converters.model_file.resolve import ResolvedModel, resolve_model
from lava_nt.converters.model_file.schema import (
    FORMAT,
    META_KEYS,
    SCHEMA_VERSION,
    TRAINABLE_KINDS,
    ModelInfo,
)
from lava_nt.converters.model_file.write import _is_ntnetwork as _is_ntnetwork
from lava_nt.converters.model_file.write import attach_quantized, save_model

__all__ = [
    "FORMAT",
    "META_KEYS",
    "SCHEMA_VERSION",
    "TRAINABLE_KINDS",
    "ModelFileError",
    "ModelFileExistsError",
    "ModelInfo",
    "ResolvedModel",
    "atomic_h5_write",
    "atomic_write",
    "attach_quantized",
    "load_model",
    "load_network",
    "network_from_model",
    "resolve_model",
    "save_model",
]
