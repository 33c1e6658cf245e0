"""Labelled data files (``.npz``) for the ``lava-nt`` commands (``deploy``, ``report``).

Format: one ``.npz`` archive (``numpy.savez`` or ``numpy.savez_compressed``) holding

``x``
    the inputs, either **spikes** ``[T, N, n_in]`` (T time steps of N samples, values 0/1 as
    bool, integers or floats) or **static** ``[N, n_in]`` (one vector per sample, held for T
    steps; binary or graded: any finite real numbers).
``y`` (optional)
    integer class labels ``[N]`` in ``[0, n_classes)`` (bool and float labels are refused).
``T`` (optional)
    a positive integer scalar: the steps of a static ``x`` (for spikes it must equal
    ``x.shape[0]``).

Other members are ignored. Nothing is unpickled (object arrays are refused). The headers of the
members are checked before any data is read: non-numeric (strings, objects, structured) and
complex dtypes, ``T = 0``, ``N = 0``, ``n_in = 0`` and sizes over :data:`MAX_ELEMENTS` input
values (``T * N * n_in``, a static ``x`` counted over its T steps) fail at once, so a small file
that declares gigabytes allocates nothing. Then NaN or infinite inputs, spikes other than 0/1,
and negative or out-of-range labels are refused. Every error is a :class:`DataError` naming the
file and the problem.

>>> data = load_data("digits.npz", n_in=64, n_classes=10, default_T=25)  # doctest: +SKIP
>>> data.spikes().shape  # [T, N, n_in], float64 0/1  # doctest: +SKIP
"""

from __future__ import annotations

import numbers
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["MAX_ELEMENTS", "Data", "DataError", "load_data"]

#: Most input values a data file may declare (``T * N * n_in``): 2**28, 2 GiB as float64.
MAX_ELEMENTS = 2**28

_MEMBERS = ("x", "y", "T")


class DataError(ValueError):
    """A data file is missing, unreadable or does not hold the documented format."""

    def __init__(self, path, message: str):
        self.path = str(path)
        super().__init__(f"data file '{path}': {message}")


@dataclass(frozen=True)
class Data:
    """The content of a data file: ``x`` (float64, ``[T, N, n_in]`` or static ``[N, n_in]``),
    ``y`` (int64 ``[N]`` or None) and ``T`` (the steps: ``x.shape[0]`` for spikes)."""

    path: str
    x: np.ndarray
    y: np.ndarray | None
    T: int | None

    @property
    def static(self) -> bool:
        return self.x.ndim == 2

    @property
    def n_samples(self) -> int:
        return int(self.x.shape[-2])

    @property
    def n_in(self) -> int:
        return int(self.x.shape[-1])

    def inputs(self, graded: bool = False) -> np.ndarray:
        """``x`` as network input ``[T, N, n_in]`` (float64): :meth:`spikes` for a spiking
        network, and for a network built for real-valued input (``graded``) any finite values,
        a static ``x`` repeated for ``T`` steps."""
        if not graded:
            return self.spikes()
        return np.asarray(self._held(), dtype=np.float64)

    def spikes(self) -> np.ndarray:
        """``x`` as binary spikes ``[T, N, n_in]`` (float64 0/1; a static ``x`` repeated for ``T``
        steps). Graded values raise :class:`DataError` (a spiking run needs 0/1 inputs)."""
        if self.static:
            bad = (self.x != 0) & (self.x != 1)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise DataError(
                    self.path,
                    f"x holds graded values (e.g. {self.x[idx]:g} at index {idx}); running the "
                    "network needs binary spikes (0 or 1)",
                )
        return self._held()

    def _held(self) -> np.ndarray:
        """``x`` as ``[T, N, n_in]``: a static ``x`` repeated for ``T`` steps (contiguous)."""
        if not self.static:
            return self.x
        if self.T is None:
            raise DataError(self.path, "a static x [N, n_in] needs the number of steps T")
        return np.ascontiguousarray(np.broadcast_to(self.x[None], (self.T,) + self.x.shape))


def _check_count(value, what: str, allow_none: bool = True) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"load_data: {what} must be a positive integer, got {value!r}")
    return int(value)


def _headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """``{member: (shape, dtype)}`` of the archive's ``x``, ``y`` and ``T``, from the ``.npy``
    headers only (no data read)."""
    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                key = info.filename.removesuffix(".npy")
                if key not in _MEMBERS:
                    continue
                if key in out:
                    raise DataError(path, f"the archive holds '{key}' twice")
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                    elif version == (2, 0):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                    else:
                        raise DataError(
                            path, f"'{key}' uses .npy format version {version}, not 1.0 or 2.0"
                        )
                out[key] = (tuple(int(n) for n in shape), np.dtype(dtype))
    except DataError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DataError(path, f"cannot be read as an .npz archive: {exc}") from None
    return out


def _kind(dtype: np.dtype) -> str:
    """'bool', 'integer', 'float', or a description of a refused dtype."""
    if dtype.fields is not None or dtype.subdtype is not None:
        return f"structured ({dtype})"
    return {
        "b": "bool",
        "i": "integer",
        "u": "integer",
        "f": "float",
        "c": f"complex ({dtype})",
        "U": f"text ({dtype})",
        "S": f"bytes ({dtype})",
        "O": "Python objects",
        "M": f"dates ({dtype})",
        "m": f"time spans ({dtype})",
    }.get(dtype.kind, f"unsupported ({dtype})")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(path, "does not exist")
    if not path.is_file():
        raise DataError(path, "is not a file")
    if not zipfile.is_zipfile(path):
        raise DataError(path, "cannot be read: not an .npz archive (write it with numpy.savez)")


def _check_x_header(path: Path, heads: dict, n_in: int | None) -> tuple:
    """The shape of ``x`` its header declares, checked (kind, rank, sizes, ``n_in``)."""
    if "x" not in heads:
        raise DataError(path, f"has no array 'x' (found {sorted(heads) or 'none of x, y, T'})")
    xshape, xdtype = heads["x"]
    kind = _kind(xdtype)
    if kind not in ("bool", "integer", "float"):
        raise DataError(path, f"x holds {kind}; it must hold real numbers")
    if any(n < 0 for shape, _ in heads.values() for n in shape):
        raise DataError(path, "an array header declares a negative size")
    if len(xshape) not in (2, 3):
        raise DataError(path, f"x must be spikes [T, N, n_in] or static [N, n_in], got {xshape}")
    for name, n in zip(("N", "n_in"), xshape[-2:], strict=True):
        if n == 0:
            raise DataError(path, f"x {xshape} has {name} = 0")
    if len(xshape) == 3 and xshape[0] == 0:
        raise DataError(path, f"x {xshape} has T = 0 steps")
    if n_in is not None and xshape[-1] != n_in:
        raise DataError(path, f"x has {xshape[-1]} inputs per sample, the model expects {n_in}")
    return xshape


def _check_y_t_headers(path: Path, heads: dict, N: int) -> None:
    """``y`` (N integer labels) and ``T`` (one integer) as their headers declare them."""
    if "y" in heads:
        yshape, ydtype = heads["y"]
        ykind = _kind(ydtype)
        if ykind != "integer":
            raise DataError(path, f"y holds {ykind} values; class labels must be integers")
        if yshape != (N,):
            raise DataError(path, f"y must hold {N} labels (one per sample), got shape {yshape}")
    if "T" in heads:
        tshape, tdtype = heads["T"]
        if _kind(tdtype) != "integer" or int(np.prod(tshape)) != 1:
            raise DataError(path, f"T must be one integer, got shape {tshape} dtype {tdtype}")


def _steps(path: Path, d, heads: dict, xshape: tuple, T, default_T):
    """The number of steps (``None`` for static ``x`` without any ``T``), checked against the
    file's ``T`` and the asked ``T``."""
    file_T = None
    if "T" in heads:
        file_T = int(np.asarray(d["T"]).reshape(-1)[0])
        if file_T < 1:
            raise DataError(path, f"T = {file_T}; the number of steps must be >= 1")
    steps = xshape[0] if len(xshape) == 3 else (T or file_T or default_T)
    if len(xshape) == 3:
        for given, src in ((T, "was asked for"), (file_T, "is given in the file")):
            if given is not None and given != xshape[0]:
                raise DataError(path, f"x holds {xshape[0]} steps but T = {given} {src}")
    return steps


def _read_arrays(path: Path, heads: dict, xshape: tuple, T, default_T, max_elements: int):
    """``(x, y or None, steps)`` read from the archive, after the size limit is checked."""
    N = xshape[-2]
    with np.load(path, allow_pickle=False) as d:
        try:
            steps = _steps(path, d, heads, xshape, T, default_T)
            total = (steps or 1) * N * xshape[-1]
            if total > max_elements:
                raise DataError(
                    path,
                    f"x declares {total:,} input values (T={steps}, N={N}, n_in={xshape[-1]}), "
                    f"more than the limit of {max_elements:,}",
                )
            x = d["x"]
            y = d["y"] if "y" in heads else None
        except DataError:
            raise
        except Exception as exc:  # noqa: BLE001 - a corrupt member raises many kinds
            raise DataError(path, f"cannot be read: {exc}") from None
    return x, y, steps


def _check_x_values(path: Path, x: np.ndarray) -> None:
    finite = np.isfinite(x)
    if not finite.all():
        idx = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise DataError(
            path,
            f"x holds {int((~finite).sum())} NaN or infinite values (first at index {idx})",
        )
    if x.ndim == 3:
        bad = (x != 0) & (x != 1)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise DataError(path, f"spikes x must be 0 or 1, found {x[idx]:g} at index {idx}")


def _check_labels(path: Path, y, n_classes: int | None) -> np.ndarray:
    """The labels as int64, checked (non-negative, below ``n_classes`` when given)."""
    y = np.asarray(y)
    if y.size and y.min() < 0:
        i = int(np.argmin(y))
        raise DataError(path, f"y holds a negative label ({int(y[i])} at index {i})")
    if y.size and int(y.max()) > np.iinfo(np.int64).max:
        raise DataError(path, f"y holds a label too large for a class ({int(y.max())})")
    if n_classes is not None and y.size and y.max() >= n_classes:
        i = int(np.argmax(y))
        raise DataError(
            path,
            f"y holds label {int(y[i])} (index {i}), outside the model's {n_classes} classes "
            f"[0, {n_classes})",
        )
    return y.astype(np.int64)


def load_data(
    path,
    *,
    T: int | None = None,
    default_T: int | None = None,
    n_in: int | None = None,
    n_classes: int | None = None,
    max_elements: int = MAX_ELEMENTS,
) -> Data:
    """Read and check a data file (format in the module docstring).

    Args:
        path: the ``.npz`` file.
        T: steps for a static ``x`` (wins over the file's ``T``); for spikes it must equal
            ``x.shape[0]``.
        default_T: steps for a static ``x`` when neither ``T`` nor the file gives them.
        n_in: the inputs per sample the model expects (checked when given).
        n_classes: the model's classes; labels must lie in ``[0, n_classes)`` (when given).
        max_elements: most input values (``T * N * n_in``) accepted.

    Raises:
        DataError: the file is missing or unreadable, or its content breaks the format.
        ValueError: a bad argument (not a positive integer).
    """
    T = _check_count(T, "T")
    default_T = _check_count(default_T, "default_T")
    n_in = _check_count(n_in, "n_in")
    n_classes = _check_count(n_classes, "n_classes")
    max_elements = _check_count(max_elements, "max_elements", allow_none=False)
    path = Path(path)
    _check_file(path)
    heads = _headers(path)
    xshape = _check_x_header(path, heads, n_in)
    _check_y_t_headers(path, heads, xshape[-2])
    x, y, steps = _read_arrays(path, heads, xshape, T, default_T, max_elements)
    if x.shape != xshape:  # pragma: no cover - numpy reads what the header declares
        raise DataError(path, f"x has shape {x.shape}, its header declares {xshape}")
    x = np.asarray(x, dtype=np.float64)
    _check_x_values(path, x)
    if y is not None:
        y = _check_labels(path, y, n_classes)
    return Data(path=str(path), x=x, y=y, T=int(steps) if steps else None)
