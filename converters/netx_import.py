"""Deprecated module path (removed in 0.3): netx import lives in :mod:`lava_nt.converters.netx`
(``from lava_nt.converters.netx import import_netx``)."""

import warnings

from lava_nt.converters.netx.importer import (  # noqa: F401 - re-exported for old imports
    UNITS,
    NetxImport,
    NetxImportError,
    import_netx,
    netx_float_equivalent,
)
from lava_nt.converters.netx.lava_dl import netx_effective_weights  # noqa: F401

warnings.warn(
    "lava_nt.converters.netx_import is deprecated; import from lava_nt.converters.netx",
    DeprecationWarning,
    stacklevel=2,
)
