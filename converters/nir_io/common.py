"""Shared by NIR export and import: the time step, the errors, metadata and small array helpers."""

from __future__ import annotations

import numpy as np

from lava_nt.converters.model_file import resolve_model
from lava_nt.network import NetworkSpec
from lava_nt.spec.validation import ParameterError

#: Seconds per lava-nt time step written into exported graphs (``graph.metadata["dt"]``).
DEFAULT_DT = 1e-3
#: Relative tolerance within which lava-nt metadata is accepted as describing the NIR fields.
META_RTOL = 1e-9
_META = "lava_nt_"


class NIRExportError(ParameterError):
    """The network uses a feature the NIR export cannot express (the reason is in the message)."""


class NIRImportError(ValueError):
    """A NIR graph (or file) cannot be imported into a lava-nt network.

    ``node`` names the offending node (None for file or graph-level problems)."""

    def __init__(self, message: str, node: str | None = None):
        self.node = node
        super().__init__(message)


# ---- helpers ---------------------------------------------------------------------------------
def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _vec(x, n: int) -> np.ndarray:
    a = _np(x)
    if a.ndim > 1:
        a = a.reshape(-1) if a.size == n else a
    return np.broadcast_to(a, (n,)).astype(np.float64).copy()


def _scalar(x) -> float:
    a = _np(x)
    if a.size != 1:
        raise NIRExportError(f"expected a scalar, got shape {a.shape}")
    return float(a.reshape(()))


def _resolve_spec(model, where: str) -> NetworkSpec:
    """A float NetworkSpec from a spec, an NTNetwork or a model-file path."""
    obj = resolve_model(model, where, NIRExportError).spec
    if obj.fixed:
        raise NIRExportError(
            f"{where}: NIR is floating point and this spec is fixed point; export the float "
            "model, or lava_nt.converters.quantize.dequantize(spec, report) first"
        )
    return obj


def _tname(node) -> str:
    return type(node).__name__


def _meta(node) -> dict:
    md = getattr(node, "metadata", None)
    if not isinstance(md, dict):
        return {}
    out = {}
    for key, val in md.items():
        if isinstance(key, str) and key.startswith(_META):
            if isinstance(val, bytes):
                val = val.decode("utf-8")
            out[key[len(_META) :]] = val
    return out


def _close(a, b) -> bool:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape and a.size != 1 and b.size != 1:
        return False
    scale = max(1.0, float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return bool(np.all(np.abs(a - b) <= META_RTOL * scale))


def _read_dt(graph, dt) -> tuple[float, str]:
    md = getattr(graph, "metadata", None) or {}
    gdt = md.get("dt") if isinstance(md, dict) else None
    if dt is not None:
        if not (isinstance(dt, int | float) and np.isfinite(dt) and dt > 0):
            raise NIRImportError(f"from_nir: dt must be a positive number of seconds, got {dt!r}")
        return float(dt), "given"
    if gdt is not None:
        v = float(np.asarray(gdt).reshape(-1)[0])
        if not (np.isfinite(v) and v > 0):
            raise NIRImportError(f"from_nir: the graph's metadata dt={gdt!r} is not positive")
        return v, "graph metadata"
    return DEFAULT_DT, "default (the graph states no dt)"
