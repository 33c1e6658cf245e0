"""Boundary checks shared by every engine: parameter names, shapes and ranges.

Lava silently accepts misspelt keyword arguments; lava-nt never does. Every public constructor
passes its keyword arguments through :func:`check_names` and its values through the range checks
below, so a wrong name, shape or range raises a :class:`ParameterError` that says what and where.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable, Mapping

import numpy as np


class ParameterError(ValueError):
    """A parameter has a wrong name, shape, type or value."""


def check_names(given: Mapping | Iterable[str], valid: Iterable[str], where: str) -> None:
    """Raise if any name in ``given`` is not in ``valid`` (with a close-match suggestion)."""
    valid = list(valid)
    for name in given:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ParameterError(
                f"{where}: unknown parameter '{name}'.{hint} Valid parameters: {', '.join(valid)}."
            )


def _is_tensor(x) -> bool:
    return type(x).__module__.startswith("torch")


def as_values(x, where: str, name: str) -> np.ndarray:
    """A float64 numpy view of a scalar, array or (detached) tensor, for checking only."""
    if _is_tensor(x):
        x = x.detach().cpu().numpy()
    if isinstance(x, str | bytes | bool | np.bool_):
        # np.asarray('1', float) and float(True) would silently accept these
        raise ParameterError(f"{where}: '{name}' must be a number, got {type(x).__name__} {x!r}")
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{where}: '{name}' must be numeric, got {type(x).__name__}") from exc
    if raw.dtype.kind not in "iuf":
        kind = {"b": "booleans", "c": "complex numbers", "U": "strings", "S": "bytes"}.get(
            raw.dtype.kind, f"{raw.dtype} values"
        )
        raise ParameterError(f"{where}: '{name}' must be real numbers, got {kind}")
    return raw.astype(np.float64, copy=False)


def as_array(x, dtype, where: str = "parameter", name: str = "value"):
    """Lists become numpy arrays of ``dtype`` (after :func:`as_values` checked that they hold
    real numbers); scalars, arrays and tensors pass unchanged (checked by the range checks)."""
    if _is_tensor(x) or isinstance(x, np.ndarray | numbers.Number):
        return x
    as_values(x, where, name)
    return np.asarray(x, dtype=dtype)


def check_finite(x, where: str, name: str) -> None:
    arr = as_values(x, where, name)
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{where}: '{name}' must be finite, got non-finite values")


def check_range(
    x,
    where: str,
    name: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
) -> None:
    """All values of ``x`` finite and inside [lo, hi] (or (lo, hi] when ``lo_open``)."""
    arr = as_values(x, where, name)
    check_finite(arr, where, name)
    if lo is not None:
        bad = arr <= lo if lo_open else arr < lo
        if np.any(bad):
            op = ">" if lo_open else ">="
            raise ParameterError(
                f"{where}: '{name}' must be {op} {lo}, got {arr[bad].ravel()[0]!r}"
            )
    if hi is not None and np.any(arr > hi):
        raise ParameterError(f"{where}: '{name}' must be <= {hi}, got {arr[arr > hi].ravel()[0]!r}")


def check_shape(x, where: str, name: str, n: int, allow_scalar: bool = True) -> None:
    """``x`` is a scalar (if allowed) or has exactly shape (n,) (or broadcasts as (..., n))."""
    shape = tuple(x.shape) if hasattr(x, "shape") else np.shape(x)
    if shape == () and allow_scalar:
        return
    if len(shape) >= 1 and shape[-1] == n and all(d == 1 for d in shape[:-1]):
        return
    if len(shape) >= 1 and shape[-1] == n:
        # leading dimensions are allowed for batched personalisation, e.g. [K, 1, n]
        return
    raise ParameterError(
        f"{where}: '{name}' must be a scalar or have last dimension {n} (one per neuron), "
        f"got shape {shape}"
    )


def check_layer_or_neuron(x, where: str, name: str, n: int) -> None:
    """``x`` is one value for the layer (a scalar, or a single-element array) or exactly one per
    neuron (shape ``(n,)``); nothing batched."""
    shape = tuple(x.shape) if hasattr(x, "shape") else np.shape(x)
    if shape in ((), (1,), (n,)):
        return
    raise ParameterError(
        f"{where}: '{name}' must be a scalar (one value per layer) or have shape ({n},) "
        f"(one per neuron), got shape {shape}"
    )


def check_int_range(x, where: str, name: str, lo: int, hi: int) -> None:
    """Integer-valued and inside [lo, hi] (a fixed-point register of stated width)."""
    arr = as_values(x, where, name)
    check_finite(arr, where, name)
    if np.any(arr != np.round(arr)):
        raise ParameterError(f"{where}: '{name}' must be integer-valued")
    if np.any(arr < lo) or np.any(arr > hi):
        bad = arr[(arr < lo) | (arr > hi)].ravel()[0]
        raise ParameterError(f"{where}: '{name}' must be in [{lo}, {hi}], got {int(bad)}")


def check_positive_int(x, where: str, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x <= 0:
        raise ParameterError(f"{where}: '{name}' must be a positive integer, got {x!r}")
    return int(x)


def check_choice(x, choices: Iterable[str], where: str, name: str) -> str:
    choices = tuple(choices)
    if x not in choices:
        raise ParameterError(f"{where}: '{name}' must be one of {choices}, got {x!r}")
    return x
