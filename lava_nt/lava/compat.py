"""Making Lava 0.10 importable next to libraries that choose a multiprocessing start method.

Lava calls ``multiprocessing.set_start_method('fork')`` (not forced) when its message
infrastructure is first imported. If anything imported earlier already chose a start method
(``torch._dynamo`` does, e.g. through ``torch._dynamo.explain``), that import raises
``RuntimeError: context has already been set``. :func:`allow_lava_import` clears the choice just
before Lava is imported so Lava can set ``fork`` itself; lava-nt calls it before every Lava import.
"""

from __future__ import annotations

import multiprocessing as mp
import sys

_LAVA_MP = "lava.magma.runtime.message_infrastructure.multiprocessing"


def allow_lava_import() -> None:
    """Clear a previously chosen start method if Lava has not been imported yet (no-op after)."""
    if _LAVA_MP in sys.modules:
        return
    if mp.get_start_method(allow_none=True) is not None:
        mp.set_start_method(None, force=True)
