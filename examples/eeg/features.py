"""Thesis chapter 4.1 preprocessing, vectorised: normalise, augment x4, FFT band power, threshold.

Pipeline for one participant (``eeg`` ``[trials, 32, n]``, baseline already removed):

1. **Normalise** each trial per channel: z-score along time (mean 0, sd 1; a constant channel
   becomes all zeros).
2. **Augment** each normalised trial into ``N_AUGMENT = 4`` instances, in this order
   (:data:`AUGMENTATIONS`): ``original``; ``shift``, a circular shift (1-D rotation along time)
   of all channels by one random offset in ``[1, n-1]``; ``flip``, the time-reversed trial;
   ``noise``, the trial plus i.i.d. Gaussian noise with sd ``noise_sd`` = 0.1. The randomness of
   trial ``t`` of participant ``p`` comes from ``numpy.random.SeedSequence([seed, p, t])`` only,
   so an instance is the same whichever subset of trials is processed, in whatever chunks (the
   honest protocol augments its parts separately and still gets the same instances).
   Note: the FFT power spectrum is invariant to circular shifts and time reversal, so ``shift`` and
   ``flip`` give the same band powers as ``original`` up to rounding (~1e-12 relative) and, after
   thresholding, the same bits; only ``noise`` differs, in a few bits. This is a property of the
   thesis pipeline, kept as published: the augmentation adds copies, not information. The
   pipeline records the trial of every test instance and the report's bootstrap resamples
   trials, never copies (:mod:`lava_nt.examples.eeg.stats`).
3. **Band power** per EEG channel with ``X = numpy.fft.rfft(x)`` over the whole trial (bin ``k`` at
   ``f_k = k * fs / n`` Hz): ``power = mean(|X_k|**2) / n`` over the bins with
   ``lo <= f_k <= hi`` (bands inclusive at both ends, :data:`BANDS`: theta 4-7, alpha 8-13, low
   beta 14-20, high beta 21-29, gamma 30-47 Hz; frequencies between bands, e.g. 7 < f < 8, are in
   no band).
   :func:`band_bins` gives the exact bins; for the real DEAP trial (n = 7680, 1/60 Hz resolution)
   theta is bins 240..420. Using the sum instead of the mean scales a band by its bin count, which
   changes no threshold decision.
4. **Feature order**: channel-major, ``feature = channel * 5 + band`` (channel 0..31 in DEAP order,
   band 0..4 in :data:`BANDS` order), 160 features; :data:`FEATURE_NAMES` spells them out.
5. **Threshold** each feature at the participant's mean power (:func:`fit_thresholds`, mean over the
   instances you pass) and binarise with ``power > threshold`` (:func:`binarize`). Which instances
   form the mean is a protocol decision (:mod:`lava_nt.examples.eeg.protocols`): the thesis uses all
   of the participant's instances; the honest protocol uses only the tuning person's training
   instances (what exists at tuning time) and applies those thresholds to validation and test.
6. :func:`to_spike_train` holds the 160 bits constant for ``T = 25`` steps: ``[T, B, 160]`` float32.

:class:`FeatureCache` stores step 1-4 results (band powers, before thresholding) per participant
file in ``.npz`` files keyed by the file's content hash, the parameters and the seed.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lava_nt.examples.eeg.deap import (
    N_EEG,
    SAMPLING_RATE,
    VALENCE_THRESHOLD,
    Participant,
    load_participant,
    participant_id_from_path,
)
from lava_nt.io import atomic_write

__all__ = [
    "AUGMENTATIONS",
    "BANDS",
    "FEATURE_NAMES",
    "FeatureCache",
    "FeatureParams",
    "N_AUGMENT",
    "N_BANDS",
    "N_FEATURES",
    "ParticipantFeatures",
    "augment",
    "band_bins",
    "band_powers",
    "binarize",
    "fit_thresholds",
    "normalise",
    "participant_features",
    "to_spike_train",
    "trial_powers",
]

BANDS: tuple[tuple[str, float, float], ...] = (
    ("theta", 4.0, 7.0),
    ("alpha", 8.0, 13.0),
    ("low_beta", 14.0, 20.0),
    ("high_beta", 21.0, 29.0),
    ("gamma", 30.0, 47.0),
)
N_BANDS = len(BANDS)
N_FEATURES = N_EEG * N_BANDS  # 160
AUGMENTATIONS = ("original", "shift", "flip", "noise")
N_AUGMENT = len(AUGMENTATIONS)
FEATURE_NAMES = tuple(f"ch{c:02d}_{b[0]}" for c in range(N_EEG) for b in BANDS)
CACHE_SCHEMA = 1


@dataclass(frozen=True)
class FeatureParams:
    """Everything that changes the band powers (part of the cache key)."""

    fs: float = SAMPLING_RATE
    bands: tuple[tuple[str, float, float], ...] = BANDS
    noise_sd: float = 0.1
    augment: bool = True  # False: only the 'original' instance per trial
    keep_baseline: bool = False
    n_channels: int = N_EEG

    def __post_init__(self):
        if not (self.fs > 0):
            raise ValueError(f"fs must be > 0, got {self.fs}")
        if not (self.noise_sd >= 0):
            raise ValueError(f"noise_sd must be >= 0, got {self.noise_sd}")
        if self.n_channels < 1:
            raise ValueError(f"n_channels must be >= 1, got {self.n_channels}")
        bands = tuple((str(n), float(lo), float(hi)) for n, lo, hi in self.bands)
        for n, lo, hi in bands:
            if not (0 <= lo <= hi <= self.fs / 2):
                raise ValueError(f"band {n} [{lo}, {hi}] Hz is not within [0, fs/2]")
        object.__setattr__(self, "bands", bands)

    @property
    def n_augment(self) -> int:
        return N_AUGMENT if self.augment else 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def band_bins(n_samples: int, fs: float = SAMPLING_RATE, bands=BANDS) -> list[np.ndarray]:
    """rfft bin indices of each band: ``k`` with ``lo <= k * fs / n_samples <= hi``.

    Compared in exact rational arithmetic (``lo * n <= k * fs <= hi * n``), so band edges that
    fall exactly on a bin are included. Raises if a band has no bin (trial too short).
    """
    n = int(n_samples)
    k = np.arange(n // 2 + 1)
    out = []
    for name, lo, hi in bands:
        sel = np.flatnonzero((k * fs >= lo * n) & (k * fs <= hi * n))
        if sel.size == 0:
            raise ValueError(
                f"band {name} ({lo}-{hi} Hz) has no FFT bin for {n} samples at {fs} Hz"
            )
        out.append(sel)
    return out


def normalise(eeg: np.ndarray) -> np.ndarray:
    """Z-score each channel of each trial along time (last axis). Constant channels become 0."""
    x = np.asarray(eeg, dtype=np.float64)
    mu = x.mean(axis=-1, keepdims=True)
    sd = x.std(axis=-1, keepdims=True)
    sd = np.where(sd > 0, sd, 1.0)
    return (x - mu) / sd


def _trial_rng(seed: int, participant: int, trial: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(participant), int(trial)]))


def augment(
    x: np.ndarray,
    *,
    seed: int,
    participant: int = 0,
    trial_ids=None,
    noise_sd: float = 0.1,
) -> np.ndarray:
    """Four instances per normalised trial: ``[trials, 4, channels, n]`` (AUGMENTATIONS order).

    ``trial_ids[i]`` is the trial number of ``x[i]`` (default ``0..trials-1``); it and ``seed``,
    ``participant`` fix the random shift and noise of that trial.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"x must be [trials, channels, samples], got shape {x.shape}")
    t, c, n = x.shape
    trial_ids = np.arange(t) if trial_ids is None else np.asarray(trial_ids)
    if trial_ids.shape != (t,):
        raise ValueError(f"trial_ids has shape {trial_ids.shape}, expected ({t},)")
    out = np.empty((t, N_AUGMENT, c, n), dtype=np.float64)
    out[:, 0] = x
    out[:, 2] = x[:, :, ::-1]
    for i, tid in enumerate(trial_ids):
        rng = _trial_rng(seed, participant, tid)
        shift = int(rng.integers(1, n)) if n > 1 else 0
        out[i, 1] = np.roll(x[i], shift, axis=-1)
        out[i, 3] = x[i] + rng.normal(0.0, noise_sd, size=(c, n))
    return out


def band_powers(x: np.ndarray, fs: float = SAMPLING_RATE, bands=BANDS) -> np.ndarray:
    """Mean ``|rfft|**2 / n`` over each band's bins.

    ``[..., channels, n]`` -> ``[..., channels * bands]``, channel-major (``channel * n_bands +
    band``).
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    spec = np.fft.rfft(x, axis=-1)
    p = spec.real**2 + spec.imag**2
    del spec
    bins = band_bins(n, fs, bands)
    out = np.stack([p[..., b].mean(axis=-1) for b in bins], axis=-1) / n
    return out.reshape(*x.shape[:-2], x.shape[-2] * len(bins))


def trial_powers(
    eeg: np.ndarray,
    *,
    seed: int,
    participant: int = 0,
    trial_ids=None,
    params: FeatureParams | None = None,
    chunk: int = 4,
) -> np.ndarray:
    """Normalise, augment and take band powers: ``[trials, n_augment, 160]`` float64.

    Works ``chunk`` trials at a time (a real DEAP trial x 4 instances is ~8 MB).
    """
    params = params or FeatureParams()
    eeg = np.asarray(eeg)
    if eeg.ndim != 3 or eeg.shape[1] != params.n_channels:
        raise ValueError(f"eeg must be [trials, {params.n_channels}, samples], got {eeg.shape}")
    t = eeg.shape[0]
    trial_ids = np.arange(t) if trial_ids is None else np.asarray(trial_ids)
    nf = params.n_channels * len(params.bands)
    out = np.empty((t, params.n_augment, nf), dtype=np.float64)
    for s in range(0, t, chunk):
        x = normalise(eeg[s : s + chunk])
        if params.augment:
            x = augment(
                x,
                seed=seed,
                participant=participant,
                trial_ids=trial_ids[s : s + chunk],
                noise_sd=params.noise_sd,
            )
        else:
            x = x[:, None]
        out[s : s + chunk] = band_powers(x, params.fs, params.bands)
    return out


def fit_thresholds(powers: np.ndarray) -> np.ndarray:
    """Per-feature mean power over the given instances (``[..., F]`` -> ``[F]``)."""
    p = np.asarray(powers, dtype=np.float64)
    p = p.reshape(-1, p.shape[-1])
    if p.shape[0] == 0:
        raise ValueError("cannot fit thresholds on zero instances")
    return p.mean(axis=0)


def binarize(powers: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``powers > thresholds`` as uint8 (same shape as ``powers``)."""
    p = np.asarray(powers)
    th = np.asarray(thresholds)
    if th.shape != p.shape[-1:]:
        raise ValueError(f"thresholds shape {th.shape} does not match features {p.shape[-1:]}")
    return (p > th).astype(np.uint8)


def to_spike_train(bits: np.ndarray, T: int = 25) -> np.ndarray:
    """Hold binary features constant for ``T`` steps: ``[B, F]`` -> ``[T, B, F]`` float32."""
    b = np.asarray(bits)
    if b.ndim != 2:
        raise ValueError(f"bits must be [batch, features], got shape {b.shape}")
    if not np.isin(b, (0, 1)).all():
        raise ValueError("bits must be 0/1")
    if int(T) < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    return np.ascontiguousarray(np.broadcast_to(b.astype(np.float32), (int(T), *b.shape)))


@dataclass(frozen=True, eq=False)
class ParticipantFeatures:
    """Band powers of one participant: ``powers`` ``[trials, n_augment, 160]``, not thresholded."""

    id: int
    powers: np.ndarray
    labels: np.ndarray
    valence_high: np.ndarray
    seed: int
    params: FeatureParams = field(default_factory=FeatureParams)

    @property
    def n_trials(self) -> int:
        return int(self.powers.shape[0])


def participant_features(
    participant: Participant, *, seed: int = 0, params: FeatureParams | None = None
) -> ParticipantFeatures:
    """Band powers of all trials and augmentations of one loaded participant."""
    params = params or FeatureParams()
    if participant.baseline_removed == params.keep_baseline:
        raise ValueError(
            f"participant {participant.id} was loaded with baseline_removed="
            f"{participant.baseline_removed} but params.keep_baseline={params.keep_baseline}"
        )
    flat = np.ptp(participant.eeg, axis=-1) == 0  # [trials, channels]: constant signals
    if flat.any():
        warnings.warn(
            f"participant {participant.id}: {int(flat.sum())} of {flat.size} (trial, EEG "
            f"channel) signals are constant ({int(flat.all(axis=1).sum())} of {flat.shape[0]} "
            "trials entirely); their band powers carry no information (only the augmentation "
            "noise), so the binary features of those channels are arbitrary",
            RuntimeWarning,
            stacklevel=2,
        )
    powers = trial_powers(participant.eeg, seed=seed, participant=participant.id, params=params)
    return ParticipantFeatures(
        id=participant.id,
        powers=powers,
        labels=np.array(participant.labels),
        valence_high=np.array(participant.valence_high),
        seed=int(seed),
        params=params,
    )


# ----------------------------------------------------------------------------------- cache

_hash_memo: dict[tuple[str, int, int], str] = {}


def file_sha256(path: os.PathLike | str) -> str:
    """SHA-256 of a file's content (memoised per process on path, size and mtime)."""
    p = Path(path).resolve()
    st = p.stat()
    memo_key = (str(p), st.st_size, st.st_mtime_ns)
    if memo_key in _hash_memo:
        return _hash_memo[memo_key]
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    _hash_memo[memo_key] = h.hexdigest()
    return _hash_memo[memo_key]


class FeatureCache:
    """On-disk cache of :class:`ParticipantFeatures`, one ``.npz`` per (file content, params, seed).

    The key is SHA-256 over the schema version, the source file's content hash, the participant
    number (from the ``sNN.dat`` name; it seeds the augmentation), the parameters and the seed, so
    an edited data file, other parameters or another seed never hit a stale entry.
    Files are written atomically (temp file + ``os.replace``) and validated on load; an unreadable
    or inconsistent entry is reported with a warning, removed and recomputed.
    ``hits``/``misses`` count lookups of this instance.
    """

    def __init__(self, directory: os.PathLike | str):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    def key(self, source: os.PathLike | str, params: FeatureParams, seed: int) -> str:
        payload = json.dumps(
            {
                "schema": CACHE_SCHEMA,
                "source_sha256": file_sha256(source),
                "participant": participant_id_from_path(source),  # seeds the augmentation
                "params": json.loads(params.to_json()),
                "seed": int(seed),
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def path_for(self, key: str) -> Path:
        return self.directory / f"features-{key[:32]}.npz"

    def _load(self, path: Path, key: str, params: FeatureParams, seed: int) -> ParticipantFeatures:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            powers = np.array(z["powers"])
            labels = np.array(z["labels"])
        if meta.get("schema") != CACHE_SCHEMA:
            raise ValueError(f"schema {meta.get('schema')} != {CACHE_SCHEMA}")
        if meta.get("key") != key:
            raise ValueError("key mismatch")
        nf = params.n_channels * len(params.bands)
        t = labels.shape[0] if labels.ndim == 2 else -1
        if labels.shape != (t, 4) or powers.shape != (t, params.n_augment, nf):
            raise ValueError(f"shapes powers {powers.shape} labels {labels.shape} inconsistent")
        if powers.dtype != np.float64 or not np.isfinite(powers).all() or (powers < 0).any():
            raise ValueError("powers not finite non-negative float64")
        return ParticipantFeatures(
            id=int(meta["participant"]),
            powers=powers,
            labels=labels,
            valence_high=labels[:, 0] >= VALENCE_THRESHOLD,
            seed=int(seed),
            params=params,
        )

    def get(
        self, source: os.PathLike | str, params: FeatureParams | None = None, seed: int = 0
    ) -> ParticipantFeatures | None:
        """Cached features or ``None`` (miss; corrupt entries are removed with a warning)."""
        params = params or FeatureParams()
        key = self.key(source, params, seed)
        path = self.path_for(key)
        if not path.exists():
            return None
        try:
            return self._load(path, key, params, seed)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            warnings.warn(
                f"feature cache entry {path} is unusable ({type(e).__name__}: {e}); recomputing",
                RuntimeWarning,
                stacklevel=2,
            )
            path.unlink(missing_ok=True)
            return None

    def put(
        self, source: os.PathLike | str, features: ParticipantFeatures, params: FeatureParams | None
    ) -> Path:
        params = params or features.params
        key = self.key(source, params, features.seed)
        path = self.path_for(key)
        meta = {
            "schema": CACHE_SCHEMA,
            "key": key,
            "participant": int(features.id),
            "source": str(Path(source)),
            "params": json.loads(params.to_json()),
            "seed": int(features.seed),
        }

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.savez(
                    f,
                    meta=np.array(json.dumps(meta, sort_keys=True)),
                    powers=features.powers,
                    labels=features.labels,
                )

        atomic_write(path, write)
        return path

    def features(
        self, source: os.PathLike | str, params: FeatureParams | None = None, seed: int = 0
    ) -> ParticipantFeatures:
        """Load from the cache, or load the DEAP file, compute and store."""
        params = params or FeatureParams()
        hit = self.get(source, params, seed)
        if hit is not None:
            self.hits += 1
            return hit
        self.misses += 1
        part = load_participant(source, keep_baseline=params.keep_baseline)
        feats = participant_features(part, seed=seed, params=params)
        self.put(source, feats, params)
        return feats
