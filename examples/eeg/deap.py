"""Loader for DEAP ``data_preprocessed_python/sNN.dat`` files (Koelstra et al. 2012).

Format (fixed by DEAP; :mod:`lava_nt.examples.eeg.synthetic` writes the same):

* one pickled ``dict`` per participant, ``sNN.dat`` with ``NN`` = 01..32, written by Python 2
  and read with ``pickle.load(f, encoding="latin1")``;
* ``data``: float64 array ``[40 trials, 40 channels, 8064 samples]`` at 128 Hz. Channels 1-32
  are EEG (Geneva order, :data:`EEG_CHANNELS`), 33-40 are peripheral
  (:data:`PERIPHERAL_CHANNELS`). The first 3 s (384 samples) of every trial are a pre-trial
  baseline, the remaining 60 s (7680 samples) the trial;
* ``labels``: float64 array ``[40 trials, 4]``: valence, arousal, dominance, liking rated on 1-9.

Real DEAP is exactly 40 x 40 x 8064. Other trial counts and lengths are accepted (small synthetic
files) as long as a file is self-consistent (and, in :func:`load_deap`, all files agree);
40 channels and 128 Hz are fixed by the format. Binary valence: high if the rating is >= 5.

Unpickling runs code named by the file, so files are read with :class:`SafeUnpickler`, which only
resolves the few globals numpy needs to rebuild arrays; anything else (``os.system``, ``eval``, ...)
is refused with :class:`DEAPFormatError`. Every error names the offending file.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "BASELINE_SAMPLES",
    "DEAPFormatError",
    "DEAP_SAMPLES",
    "DEAP_TRIALS",
    "EEG_CHANNELS",
    "LABEL_NAMES",
    "N_CHANNELS",
    "N_EEG",
    "PERIPHERAL_CHANNELS",
    "Participant",
    "SAMPLING_RATE",
    "SafeUnpickler",
    "VALENCE_THRESHOLD",
    "iter_deap",
    "list_participants",
    "load_deap",
    "load_participant",
    "participant_id_from_path",
    "participant_path",
    "read_dat",
]

SAMPLING_RATE = 128  # Hz, fixed by the preprocessed DEAP format
N_CHANNELS = 40
N_EEG = 32
BASELINE_SAMPLES = 3 * SAMPLING_RATE  # 384: the pre-trial baseline at the start of every trial
DEAP_TRIALS = 40
DEAP_SAMPLES = 8064  # 63 s = 3 s baseline + 60 s trial
LABEL_NAMES = ("valence", "arousal", "dominance", "liking")
VALENCE_THRESHOLD = 5.0  # high valence: rating >= 5
LABEL_MIN, LABEL_MAX = 1.0, 9.0

# Channel order of data_preprocessed_python (Geneva order), 1-based channel n is index n-1.
EEG_CHANNELS = (
    "Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7", "PO3", "O1", "Oz",
    "Pz", "Fp2", "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz", "C4", "T8", "CP6", "CP2", "P4", "P8",
    "PO4", "O2",
)  # fmt: skip
PERIPHERAL_CHANNELS = (
    "hEOG", "vEOG", "zEMG", "tEMG", "GSR", "Respiration belt", "Plethysmograph", "Temperature",
)  # fmt: skip

_FILE_RE = re.compile(r"^s(\d{2,})\.dat$")


class DEAPFormatError(ValueError):
    """A DEAP file (or directory) is missing, unreadable or not in the DEAP format.

    ``path`` is the offending file; the message always starts with it.
    """

    def __init__(self, path: os.PathLike | str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class _RefusedGlobal(pickle.UnpicklingError):
    pass


# (module, name) pairs a DEAP pickle may name. Python 2 numpy pickles (protocol 0-2) use
# _reconstruct/ndarray/dtype; numpy >= 2 writes numpy._core; pickle protocol 5 uses _frombuffer;
# Python 3 pickles of bytes at protocol <= 2 use _codecs.encode. None of these can run code.
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
)


def _empty_bytes(*args):
    """``bytes()`` as a protocol <= 2 pickle of an empty array calls it; any argument (which
    could ask for gigabytes, ``bytes(10**12)``) is refused."""
    if args:
        raise _RefusedGlobal("refused builtins.bytes with arguments")
    return b""


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays, dtypes and plain containers.

    Any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ...) raises
    ``pickle.UnpicklingError`` before it is ever called.
    """

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        if (module, name) in (("__builtin__", "bytes"), ("builtins", "bytes")):
            return _empty_bytes  # an empty array's buffer at protocol <= 2: bytes()
        raise _RefusedGlobal(f"refused global {module}.{name}")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not allowed")


@dataclass(frozen=True, eq=False)
class Participant:
    """One participant's EEG and ratings.

    ``eeg``: float64 ``[trials, 32, samples]`` (EEG channels only; baseline removed unless
    ``baseline_removed`` is False). ``labels``: float64 ``[trials, 4]`` in :data:`LABEL_NAMES`
    order.
    ``valence_high``: bool ``[trials]``, rating >= 5.
    """

    id: int
    eeg: np.ndarray
    labels: np.ndarray
    valence_high: np.ndarray
    path: Path | None = None
    baseline_removed: bool = True

    @property
    def n_trials(self) -> int:
        return int(self.eeg.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.eeg.shape[2])

    @property
    def valence(self) -> np.ndarray:
        return self.labels[:, 0]


def participant_path(directory: os.PathLike | str, participant: int) -> Path:
    """``directory/sNN.dat`` for participant number ``participant`` (1-based, as in DEAP)."""
    if isinstance(participant, bool) or not isinstance(participant, int | np.integer):
        raise TypeError(f"participant must be an int, got {participant!r}")
    if participant < 1:
        raise ValueError(f"participant numbers start at 1, got {participant}")
    return Path(directory) / f"s{int(participant):02d}.dat"


def participant_id_from_path(path: os.PathLike | str) -> int:
    """``NN`` of a ``.../sNN.dat`` path; ``ValueError`` for other names."""
    m = _FILE_RE.match(Path(path).name)
    if m is None:
        raise ValueError(
            f"{path}: cannot read a participant number from the name (expected sNN.dat);"
            " pass participant_id"
        )
    return int(m.group(1))


def list_participants(directory: os.PathLike | str) -> list[int]:
    """Participant numbers of the ``sNN.dat`` files in ``directory``, sorted."""
    d = Path(directory)
    if not d.is_dir():
        raise DEAPFormatError(d, "not a directory")
    found = []
    for p in d.iterdir():
        m = _FILE_RE.match(p.name)
        if m and p.is_file():
            found.append(int(m.group(1)))
    return sorted(found)


def read_dat(path: os.PathLike | str) -> dict:
    """Safely unpickle one ``sNN.dat`` file and return the raw dict (no format checks)."""
    path = Path(path)
    if not path.exists():
        raise DEAPFormatError(path, "missing participant file")
    if not path.is_file():
        raise DEAPFormatError(path, "not a regular file")
    try:
        with open(path, "rb") as f:  # streamed: a real file is 103 MB
            if os.fstat(f.fileno()).st_size == 0:
                raise DEAPFormatError(path, "empty file (truncated?)")
            obj = SafeUnpickler(f, encoding="latin1").load()
    except DEAPFormatError:
        raise
    except _RefusedGlobal as e:
        raise DEAPFormatError(path, f"unsafe pickle: {e}; only numpy arrays are allowed") from e
    except OSError as e:
        raise DEAPFormatError(path, f"cannot read file ({e})") from e
    except MemoryError:
        raise
    except Exception as e:  # truncated or garbled pickles raise many different types
        raise DEAPFormatError(
            path, f"unreadable or truncated pickle ({type(e).__name__}: {e})"
        ) from e
    return obj


def _check_array(path: Path, obj: dict, key: str) -> np.ndarray:
    if key not in obj:
        raise DEAPFormatError(path, f"missing key {key!r} (found keys {sorted(map(str, obj))})")
    a = obj[key]
    if not isinstance(a, np.ndarray):
        raise DEAPFormatError(path, f"{key!r} is {type(a).__name__}, expected a numpy array")
    if a.dtype.kind not in "fiu":
        raise DEAPFormatError(path, f"{key!r} has dtype {a.dtype}, expected a real floating type")
    if key == "data" and a.dtype.kind != "f":
        raise DEAPFormatError(path, f"'data' has dtype {a.dtype}, expected float64 (or float32)")
    return a


def _validate(path: Path, obj) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(obj, dict):
        raise DEAPFormatError(path, f"pickle holds a {type(obj).__name__}, expected a dict")
    data = _check_array(path, obj, "data")
    labels = _check_array(path, obj, "labels")
    if data.ndim != 3 or data.shape[1] != N_CHANNELS:
        raise DEAPFormatError(
            path,
            f"'data' has shape {data.shape}, expected (trials, {N_CHANNELS} channels, samples)"
            f" (DEAP: ({DEAP_TRIALS}, {N_CHANNELS}, {DEAP_SAMPLES}))",
        )
    n_trials, _, n_samples = data.shape
    if n_trials < 1:
        raise DEAPFormatError(path, "'data' has no trials")
    if n_samples <= BASELINE_SAMPLES:
        raise DEAPFormatError(
            path,
            f"'data' has {n_samples} samples per trial; need more than the"
            f" {BASELINE_SAMPLES}-sample ({BASELINE_SAMPLES // SAMPLING_RATE} s at"
            f" {SAMPLING_RATE} Hz) baseline",
        )
    if labels.shape != (n_trials, len(LABEL_NAMES)):
        raise DEAPFormatError(
            path,
            f"'labels' has shape {labels.shape}, expected ({n_trials}, {len(LABEL_NAMES)})"
            f" = (trials of 'data', {'/'.join(LABEL_NAMES)})",
        )
    if not np.isfinite(labels).all():
        bad = np.argwhere(~np.isfinite(labels))[0]
        raise DEAPFormatError(
            path, f"'labels' has NaN/inf (first at trial {bad[0]}, column {bad[1]})"
        )
    out = (labels < LABEL_MIN) | (labels > LABEL_MAX)
    if out.any():
        t, c = np.argwhere(out)[0]
        raise DEAPFormatError(
            path,
            f"'labels' outside [{LABEL_MIN:g}, {LABEL_MAX:g}]: {LABEL_NAMES[c]} of trial {t}"
            f" is {labels[t, c]!r} ({int(out.sum())} values out of range)",
        )
    # Check finiteness in blocks: np.isfinite on the whole 103 MB array would double memory use.
    for t in range(n_trials):
        fin = np.isfinite(data[t])
        if not fin.all():
            c, s = np.argwhere(~fin)[0]
            raise DEAPFormatError(
                path, f"'data' has NaN/inf (first at trial {t}, channel {c + 1}, sample {s})"
            )
    return data, labels


def load_participant(
    path: os.PathLike | str, *, keep_baseline: bool = False, participant_id: int | None = None
) -> Participant:
    """Load and validate one ``sNN.dat`` file.

    The returned EEG holds only the 32 EEG channels as float64; the 3 s pre-trial baseline (the
    first 384 samples) is dropped unless ``keep_baseline``. ``participant_id`` defaults to ``NN``
    from the file name.
    """
    path = Path(path)
    if participant_id is None:
        participant_id = participant_id_from_path(path)
    obj = read_dat(path)
    data, labels = _validate(path, obj)
    start = 0 if keep_baseline else BASELINE_SAMPLES
    eeg = np.array(data[:, :N_EEG, start:], dtype=np.float64, order="C")
    del obj, data
    labels = np.array(labels, dtype=np.float64, order="C")
    for a in (eeg, labels):
        a.flags.writeable = False
    valence_high = labels[:, 0] >= VALENCE_THRESHOLD
    valence_high.flags.writeable = False
    return Participant(
        id=int(participant_id),
        eeg=eeg,
        labels=labels,
        valence_high=valence_high,
        path=path,
        baseline_removed=not keep_baseline,
    )


def _resolve(directory: os.PathLike | str, participants: Iterable[int] | None) -> list[Path]:
    d = Path(directory)
    if participants is None:
        ids = list_participants(d)
        if not ids:
            raise DEAPFormatError(d, "no sNN.dat participant files in this directory")
    else:
        ids = [int(p) for p in participants]
        if not ids:
            raise ValueError("participants is empty")
        if len(set(ids)) != len(ids):
            raise ValueError(f"participants has duplicates: {ids}")
    return [participant_path(d, i) for i in ids]


def iter_deap(
    directory: os.PathLike | str,
    participants: Iterable[int] | None = None,
    *,
    keep_baseline: bool = False,
) -> Iterator[Participant]:
    """Yield participants one at a time (memory stays at one participant, ~100 MB for real DEAP).

    ``participants``: numbers (1-based) to load; ``None`` loads every ``sNN.dat`` in the directory.
    All files must agree on the number of trials and samples. Every path is checked for existence
    before the first file is read.
    """
    paths = _resolve(directory, participants)
    for p in paths:
        if not p.is_file():
            raise DEAPFormatError(p, "missing participant file")
    shape = None
    first = None
    for p in paths:
        part = load_participant(p, keep_baseline=keep_baseline)
        s = (part.n_trials, part.n_samples)
        if shape is None:
            shape, first = s, p
        elif s != shape:
            raise DEAPFormatError(
                p,
                f"{s[0]} trials x {s[1]} samples, but {first.name} has {shape[0]} x {shape[1]};"
                " all participants must agree",
            )
        yield part


def load_deap(
    directory: os.PathLike | str,
    participants: Iterable[int] | None = None,
    *,
    keep_baseline: bool = False,
) -> list[Participant]:
    """Load several participants (see :func:`iter_deap`). Real DEAP at full size needs ~2.5 GB."""
    return list(iter_deap(directory, participants, keep_baseline=keep_baseline))
