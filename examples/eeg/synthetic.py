"""Deterministic synthetic data in the exact DEAP ``data_preprocessed_python`` file format.

DEAP needs a signed licence, so the example ships this generator; the real loader
(:mod:`lava_nt.examples.eeg.deap`) reads its output unchanged. Each ``sNN.dat`` is a pickled dict
with ``data`` float64 ``[trials, 40, samples]`` at 128 Hz (first 384 samples = 3 s baseline) and
``labels`` float64 ``[trials, 4]`` (valence, arousal, dominance, liking in [1, 9]), as in DEAP.

Signal model (per participant ``p``, trial ``t``, EEG channel ``c``, band ``b`` of
:data:`lava_nt.examples.eeg.features.BANDS`), synthesised in the frequency domain (random phases,
then one inverse FFT per trial and channel; vectorised per participant):

* spectrum = 1/f background (person-specific exponent, band-limited to 4-45 Hz like DEAP's filter)
  plus oscillatory peaks in theta, alpha (person-specific alpha frequency), low beta, high beta and
  gamma, scaled per channel (tens of microvolts);
* each band's power is multiplied by ``exp(L[t, c, b])`` with the log band power
  ``L = offset_p[c, b] + e_t * pattern_p[c, b] + noise_p * (sqrt(rho) * common[t, b]
  + sqrt(1 - rho) * indep[t, c, b])``, where ``e_t = (valence_t - 5) / 4`` in [-1, 1];
* the valence pattern is partly shared and partly personal:
  ``pattern_p = gain_p * (shared_strength * flip_p[b] * mask_p[c] * shared[c, b]
  + person_strength * own_p[c, b])`` with ``shared`` and ``own_p`` standard normal, ``mask_p`` a
  random subset of the channels (``shared_channels`` fraction), ``flip_p`` per-band sign flips
  (probability ``sign_flip``), ``gain_p`` and ``noise_p`` log-normal per person, and ``offset_p``
  per-person baseline power offsets (removed by the per-person threshold);
* the 3 s baseline is generated the same way with ``e = 0``;
* channels 33-40 (hEOG, vEOG, zEMG, tEMG, GSR, respiration, plethysmograph, temperature) carry
  simple plausible signals (saccades, blinks, EMG bursts, slow skin-conductance drift, breathing,
  pulse, temperature) unrelated to valence.

Labels: each person's high-valence share is drawn uniformly in ``class_balance`` (25-75% as in DEAP)
and rounded to whole trials inside that range; valence ratings are uniform in [5, 9] (high) or
[1, 4.99] (low), with 2 decimals; arousal, dominance and liking are correlated with valence (0.2,
0.4, 0.6 of its deviation from 5 plus noise), clipped to [1, 9].

Determinism: everything about participant ``p`` comes from ``SeedSequence([seed, tag, p])``, so a
file depends only on the config and ``p`` (not on how many participants are written). Same config,
same bytes. Files are written one participant at a time, atomically (temp file + ``os.replace``).
Full size (32 x 40 x 40 x 8064 float64, 103 MB per file, 3.3 GB in all) takes about 1-2 s per
participant here.

Variants (``variant``):

* ``"direction"`` (default, the model above): people differ by a person-specific
  *direction* of the valence effect (``own_p``, the channel mask and the sign flips). Per-person
  offsets are removed by the per-person thresholds of the pipeline, so what is left to learn per
  person is a direction in feature space, which tuning biases alone can barely follow.
* ``"shift_gain"`` (a positive control for neuromodulation): the valence pattern is the shared one
  on every channel (no mask, no sign flip; ``person_strength`` would add a person-specific part),
  scaled by the person's gain ``gain_p``, and each person carries a *tonic shift* along it:
  ``offset_p += m_p * pattern_p`` with ``m_p ~ N(0, tonic_shift)`` (in units of the valence
  effect ``e``), as if the person's resting state sat at another point of the valence axis.
  :meth:`SyntheticConfig.for_variant` sets ``shared_strength`` 0.8, ``person_strength`` 0,
  ``offset_sd`` 0 and ``tonic_shift`` 0.5 (:data:`VARIANT_SETTINGS`): people differ by their
  shift and gain only. Per-person thresholds remove the shift again; thresholds fitted on the
  pretraining population (``lava-nt eeg run --thresholds population``) keep it, and then it
  shifts the pretrained network's input drive, which per-neuron biases can undo.

``tonic_shift`` also applies to ``"direction"`` (default 0: no shift). How the knobs change the
difficulty is measured by :mod:`lava_nt.examples.eeg.calibration` (a logistic-regression proxy,
``lava-nt eeg sweep``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from scipy import signal

from lava_nt.examples.eeg.deap import (
    BASELINE_SAMPLES,
    DEAP_SAMPLES,
    DEAP_TRIALS,
    N_CHANNELS,
    N_EEG,
    SAMPLING_RATE,
    participant_path,
)
from lava_nt.examples.eeg.features import BANDS, N_BANDS
from lava_nt.io import atomic_write_bytes, atomic_write_text

__all__ = [
    "SyntheticConfig",
    "VARIANTS",
    "SyntheticDataError",
    "check_can_write",
    "data_bytes",
    "generate_deap",
    "generate_participant",
    "read_manifest",
    "tonic_shift",
    "write_participant",
]

MANIFEST = "SYNTHETIC.json"
MANIFEST_SCHEMA = 2
PICKLE_PROTOCOL = 4
VARIANTS = ("direction", "shift_gain")
#: The settings :meth:`SyntheticConfig.for_variant` starts from, per variant.
VARIANT_SETTINGS = {
    "direction": {},
    "shift_gain": {
        "shared_strength": 0.8,
        "person_strength": 0.0,
        "offset_sd": 0.0,
        "tonic_shift": 0.5,
    },
}


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the synthetic DEAP generator (defaults: calibrated, full DEAP size)."""

    n_participants: int = 32
    n_trials: int = DEAP_TRIALS
    n_samples: int = DEAP_SAMPLES  # per trial, including the 384-sample baseline
    seed: int = 0
    shared_strength: float = 0.15  # sd of the shared valence pattern (log band power per unit e)
    person_strength: float = 0.6  # sd of the person-specific valence pattern
    noise: float = 0.6  # sd of trial-to-trial log band-power fluctuation
    noise_spread: float = 0.3  # per-person noise sd = noise * lognormal(0, noise_spread)
    noise_corr: float = 0.5  # share of the trial noise variance common to all channels
    gain_spread: float = 0.3  # per-person valence-effect gain ~ lognormal(0, gain_spread)
    shared_channels: tuple[float, float] = (0.5, 0.9)  # fraction of channels with the shared part
    sign_flip: float = 0.1  # per person and band: probability the shared effect is reversed
    offset_sd: float = 0.5  # per-person baseline log band-power offsets
    class_balance: tuple[float, float] = (0.25, 0.75)  # per-person share of high-valence trials
    variant: str = "direction"  # VARIANTS (module doc)
    tonic_shift: float = 0.0  # sd of the per-person shift along the valence pattern (units of e)

    # knobs added after data sets existed: left out of to_dict() (the manifest, run.json) at their
    # default, so existing data directories and runs keep their identity
    OPTIONAL = {"variant": "direction", "tonic_shift": 0.0}

    @classmethod
    def for_variant(cls, variant: str, **overrides) -> SyntheticConfig:
        """The config of ``variant`` (:data:`VARIANT_SETTINGS`), with ``overrides`` applied."""
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        return cls(**{"variant": variant, **VARIANT_SETTINGS[variant], **overrides})

    def replace(self, **changes) -> SyntheticConfig:
        """A copy with ``changes`` (validated)."""
        return replace(self, **changes)

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(
                f"SyntheticConfig.variant must be one of {', '.join(VARIANTS)}, got "
                f"{self.variant!r}"
            )
        for name in ("n_participants", "n_trials", "n_samples", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise TypeError(f"SyntheticConfig.{name} must be an int, got {v!r}")
        if not 1 <= self.n_participants <= 99:
            raise ValueError(f"n_participants must be in 1..99, got {self.n_participants}")
        if self.n_trials < 2:
            raise ValueError(f"n_trials must be >= 2, got {self.n_trials}")
        if self.n_samples <= BASELINE_SAMPLES + 2 * SAMPLING_RATE:
            raise ValueError(
                f"n_samples must exceed the {BASELINE_SAMPLES}-sample baseline by at least 2 s"
                f" ({BASELINE_SAMPLES + 2 * SAMPLING_RATE + 1}), got {self.n_samples}"
            )
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        for name in (
            "shared_strength",
            "person_strength",
            "noise",
            "noise_spread",
            "gain_spread",
            "offset_sd",
            "tonic_shift",
        ):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"SyntheticConfig.{name} must be finite and >= 0, got {v}")
        for name in ("noise_corr", "sign_flip"):
            v = float(getattr(self, name))
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"SyntheticConfig.{name} must be in [0, 1], got {v}")
        for name in ("shared_channels", "class_balance"):
            lo, hi = (float(x) for x in getattr(self, name))
            if not 0.0 <= lo <= hi <= 1.0:
                raise ValueError(f"SyntheticConfig.{name} must be 0 <= lo <= hi <= 1, got {lo, hi}")
            object.__setattr__(self, name, (lo, hi))
        lo, hi = self.class_balance
        if math.floor(hi * self.n_trials) < math.ceil(lo * self.n_trials):
            raise ValueError(f"no whole number of trials in class_balance {self.class_balance}")

    def to_dict(self) -> dict:
        """The settings as stored in the manifest (optional knobs only when not at default)."""
        d = asdict(self)
        return {k: v for k, v in d.items() if not (k in self.OPTIONAL and v == self.OPTIONAL[k])}


# ------------------------------------------------------------------------------ randomness

_TAG_SHARED = 0x5A4ED
_TAG_PERSON = 0xDEA9
_TAG_SHIFT = 0x5417


def _shared_pattern(cfg: SyntheticConfig) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, _TAG_SHARED]))
    return rng.standard_normal((N_EEG, N_BANDS))


def _person_rng(cfg: SyntheticConfig, participant: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([cfg.seed, _TAG_PERSON, participant]))


# ------------------------------------------------------------------------------ labels


def _labels(cfg: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    n = cfg.n_trials
    lo, hi = cfg.class_balance
    n_high = int(rng.integers(math.ceil(lo * n - 1e-9), math.floor(hi * n + 1e-9) + 1))
    high = np.zeros(n, dtype=bool)
    high[rng.permutation(n)[:n_high]] = True
    val = np.where(high, rng.uniform(5.0, 9.0, n), rng.uniform(1.0, 5.0, n))
    val = np.round(val, 2)
    val = np.where(high, np.clip(val, 5.0, 9.0), np.clip(val, 1.0, 4.99))
    dev = val - 5.0
    other = []
    for k, sd in ((0.2, 1.8), (0.4, 1.5), (0.6, 1.5)):  # arousal, dominance, liking
        other.append(np.clip(np.round(5.0 + k * dev + rng.normal(0.0, sd, n), 2), 1.0, 9.0))
    return np.stack([val, *other], axis=1).astype(np.float64)


# ------------------------------------------------------------------------------ EEG


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _band_boxes(f: np.ndarray) -> np.ndarray:
    """Smooth partition of unity over frequency, one region per band (edges mid-gap), ``[5, F]``."""
    edges = [0.5 * (BANDS[i][2] + BANDS[i + 1][1]) for i in range(N_BANDS - 1)]  # 7.5, 13.5, ...
    steps = [np.ones_like(f)] + [_sigmoid((f - e) / 0.25) for e in edges] + [np.zeros_like(f)]
    return np.stack([steps[i] - steps[i + 1] for i in range(N_BANDS)])


@dataclass(frozen=True)
class _Person:
    pattern: np.ndarray  # [32, 5]
    offset: np.ndarray  # [32, 5]
    noise: float
    base_shape: dict  # spectral shape parameters


def tonic_shift(cfg: SyntheticConfig, participant: int) -> float:
    """The person's shift ``m_p`` along its valence pattern (0 when ``tonic_shift`` is 0)."""
    if cfg.tonic_shift == 0:
        return 0.0
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, _TAG_SHIFT, int(participant)]))
    return float(rng.normal(0.0, cfg.tonic_shift))


def _person(
    cfg: SyntheticConfig, rng: np.random.Generator, shared: np.ndarray, participant: int
) -> _Person:
    gain = float(np.exp(rng.normal(0.0, cfg.gain_spread)))
    frac = rng.uniform(*cfg.shared_channels)
    mask = np.zeros(N_EEG)
    mask[rng.permutation(N_EEG)[: int(round(frac * N_EEG))]] = 1.0
    flip = np.where(rng.random(N_BANDS) < cfg.sign_flip, -1.0, 1.0)
    own = rng.standard_normal((N_EEG, N_BANDS))
    if cfg.variant == "shift_gain":  # the shared pattern on every channel, no sign flips
        pattern = gain * (cfg.shared_strength * shared + cfg.person_strength * own)
    else:
        pattern = gain * (
            cfg.shared_strength * shared * mask[:, None] * flip[None, :] + cfg.person_strength * own
        )
    offset = rng.normal(0.0, cfg.offset_sd, (N_EEG, N_BANDS))
    shift = tonic_shift(cfg, participant)
    if shift:
        offset = offset + shift * pattern
    noise = cfg.noise * float(np.exp(rng.normal(0.0, cfg.noise_spread)))
    shape = {
        "exponent": rng.uniform(1.0, 2.0) + rng.normal(0.0, 0.1, N_EEG),  # 1/f^exponent
        "centres": np.array(
            [
                rng.uniform(5.0, 6.5),  # theta
                float(np.clip(rng.normal(10.0, 0.8), 8.5, 12.0)),  # individual alpha frequency
                rng.uniform(15.0, 19.0),
                rng.uniform(22.0, 27.0),
                rng.uniform(32.0, 42.0),
            ]
        ),
        "heights": np.array([1.0, 4.0, 1.0, 0.7, 0.5])
        * np.exp(rng.normal(0.0, 0.3, (N_EEG, N_BANDS))),
        "amplitude_uv": rng.uniform(8.0, 20.0) * np.exp(rng.normal(0.0, 0.2, N_EEG)),
    }
    return _Person(pattern=pattern, offset=offset, noise=noise, base_shape=shape)


def _base_spectrum(person: _Person, f: np.ndarray) -> np.ndarray:
    """Background + peaks per channel ``[32, F]``, normalised to unit signal variance."""
    s = person.base_shape
    bg = (f[None, :] + 1.0) ** (-s["exponent"][:, None])  # [32, F]
    widths = np.array([0.7, 1.0, 1.5, 2.0, 3.0])
    peaks = np.exp(-0.5 * ((f[None, :] - s["centres"][:, None]) / widths[:, None]) ** 2)  # [5,F]
    bg_at = (s["centres"] + 1.0)[None, :] ** (-s["exponent"][:, None])  # [32, 5]
    base = bg + (s["heights"] * bg_at) @ peaks
    base *= _sigmoid((f - 3.5) / 0.4) * _sigmoid((45.5 - f) / 0.6)  # DEAP's 4-45 Hz band-pass
    base[:, 0] = 0.0
    return base


def _eeg_segment(
    cfg: SyntheticConfig,
    rng: np.random.Generator,
    person: _Person,
    e: np.ndarray,
    n: int,
) -> np.ndarray:
    """EEG ``[trials, 32, n]`` in microvolts for valence effects ``e`` ``[trials]``."""
    t = e.shape[0]
    f = np.fft.rfftfreq(n, 1.0 / SAMPLING_RATE)
    base = _base_spectrum(person, f)  # [32, F]
    # expected variance of the synthesised signal is 2 * sum(S) / n; make it 1 for L = 0
    base /= 2.0 * base.sum(axis=1, keepdims=True) / n
    rho = cfg.noise_corr
    common = rng.standard_normal((t, 1, N_BANDS))
    indep = rng.standard_normal((t, N_EEG, N_BANDS))
    logp = (
        person.offset[None]
        + e[:, None, None] * person.pattern[None]
        + person.noise * (math.sqrt(rho) * common + math.sqrt(1.0 - rho) * indep)
    )  # [t, 32, 5]
    spec = np.exp(logp @ _band_boxes(f))  # [t, 32, F]
    spec *= base[None]
    np.sqrt(spec / 2.0, out=spec)
    z = rng.standard_normal((t, N_EEG, f.size)) + 1j * rng.standard_normal((t, N_EEG, f.size))
    z *= spec
    del spec
    z[..., 0] = 0.0
    if n % 2 == 0:
        z[..., -1] = 0.0
    x = np.fft.irfft(z, n=n, axis=-1)
    del z
    x *= math.sqrt(n) * person.base_shape["amplitude_uv"][None, :, None]
    return x


# ------------------------------------------------------------------------------ peripheral


def _peripheral(rng: np.random.Generator, t: int, n: int) -> np.ndarray:
    """Channels 33-40 ``[t, 8, n]``: hEOG, vEOG, zEMG, tEMG, GSR, resp., pleth., temperature."""
    fs = SAMPLING_RATE
    time = np.arange(n) / fs
    out = np.empty((t, 8, n))
    # hEOG: saccades (steps that relax back) + noise, microvolts
    kicks = (rng.random((t, n)) < 0.5 / fs) * rng.normal(0.0, 40.0, (t, n))
    out[:, 0] = signal.lfilter([1.0], [1.0, -0.995], kicks, axis=-1) + rng.normal(0, 5.0, (t, n))
    # vEOG: blinks (smooth 150-250 uV bumps, ~0.3/s) + noise
    blinks = (rng.random((t, n)) < 0.3 / fs) * rng.uniform(150.0, 250.0, (t, n))
    k = np.exp(-0.5 * (np.arange(-24, 25) / 6.0) ** 2)
    out[:, 1] = signal.fftconvolve(blinks, k[None, :], mode="same", axes=-1)
    out[:, 1] += rng.normal(0, 5.0, (t, n))
    # zEMG, tEMG: broadband noise with slowly varying bursts
    env = signal.lfilter([0.02], [1.0, -0.98], rng.standard_normal((t, 2, n)), axis=-1)
    out[:, 2:4] = rng.normal(0.0, 1.0, (t, 2, n)) * 8.0 * np.exp(2.0 * env)
    # GSR: slowly drifting skin response around a person/trial level
    drift = np.cumsum(rng.normal(0.0, 2.0, (t, n)), axis=-1)
    drift = signal.lfilter([0.01], [1.0, -0.99], drift, axis=-1)
    out[:, 4] = rng.uniform(2000.0, 8000.0, (t, 1)) + drift
    # respiration: 0.2-0.33 Hz breathing with phase jitter
    rate = rng.uniform(0.2, 0.33, (t, 1))
    phase = np.cumsum(rng.normal(0.0, 0.01, (t, n)), axis=-1)
    out[:, 5] = rng.uniform(-1500.0, 1500.0, (t, 1)) + 400.0 * np.sin(
        2 * np.pi * rate * time + phase
    )
    # plethysmograph: 60-85 bpm pulse with two harmonics
    hr = rng.uniform(1.0, 1.4, (t, 1))
    ph = 2 * np.pi * hr * time + rng.uniform(0, 2 * np.pi, (t, 1))
    out[:, 6] = 1e4 + 800.0 * (np.sin(ph) + 0.4 * np.sin(2 * ph + 0.8) + 0.15 * np.sin(3 * ph))
    # temperature: degrees C, slow drift
    out[:, 7] = (
        rng.uniform(31.0, 34.0, (t, 1))
        + rng.normal(0.0, 0.05, (t, 1)) * time / max(time[-1], 1.0)
        + rng.normal(0.0, 0.005, (t, n))
    )
    return out


# ------------------------------------------------------------------------------ files


def generate_participant(config: SyntheticConfig, participant: int) -> dict[str, np.ndarray]:
    """The DEAP dict of one participant (1-based number): ``{'data': ..., 'labels': ...}``."""
    cfg = config
    if not 1 <= int(participant) <= 99:
        raise ValueError(f"participant must be in 1..99, got {participant}")
    rng = _person_rng(cfg, int(participant))
    labels = _labels(cfg, rng)
    person = _person(cfg, rng, _shared_pattern(cfg), int(participant))
    e = (labels[:, 0] - 5.0) / 4.0
    t, n = cfg.n_trials, cfg.n_samples
    data = np.empty((t, N_CHANNELS, n), dtype=np.float64)
    data[:, :N_EEG, :BASELINE_SAMPLES] = _eeg_segment(
        cfg, rng, person, np.zeros(t), BASELINE_SAMPLES
    )
    data[:, :N_EEG, BASELINE_SAMPLES:] = _eeg_segment(cfg, rng, person, e, n - BASELINE_SAMPLES)
    data[:, N_EEG:] = _peripheral(rng, t, n)
    return {"data": data, "labels": labels}


class SyntheticDataError(ValueError):
    """The generator refused to write: a target file exists that it did not write."""


def participant_bytes(obj: dict[str, np.ndarray]) -> bytes:
    """The exact bytes of a DEAP file holding ``obj`` (pickle protocol 4)."""
    return pickle.dumps(obj, protocol=PICKLE_PROTOCOL)


def data_bytes(config: SyntheticConfig, n_participants: int | None = None) -> int:
    """Bytes :func:`generate_deap` writes for ``n_participants`` (default: all of ``config``'s)
    participants: per file the float64 ``data [trials, 40 channels, samples]`` and ``labels
    [trials, 4]`` (the pickle framing, under 1 kB per file, is not counted). The defaults (32
    participants, full DEAP size) are 3.3 GB."""
    n = config.n_participants if n_participants is None else int(n_participants)
    return n * 8 * config.n_trials * (N_CHANNELS * config.n_samples + 4)


def write_participant(path: os.PathLike | str, obj: dict[str, np.ndarray]) -> Path:
    """Pickle a DEAP dict to ``path`` atomically (fsynced, renamed into place)."""
    return atomic_write_bytes(Path(path), participant_bytes(obj))


def read_manifest(directory: os.PathLike | str) -> dict | None:
    """The generator's manifest of ``directory`` (None if there is none or it is unreadable).

    ``files`` maps each file name the generator wrote to the SHA-256 of its bytes (recorded before
    the file was written, so a kill at any point leaves no file of ours unlisted); ``config`` and
    ``participants`` name the complete participants of the last configuration generated.
    """
    try:
        m = json.loads((Path(directory) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(m, dict) or not isinstance(m.get("config"), dict):
        return None
    files = m.get("files")
    if m.get("schema") == 1:  # listed participants, no hashes
        files = {participant_path(".", int(i)).name: None for i in m.get("participants", [])}
    if not isinstance(files, dict):
        return None
    m["files"] = files
    return m


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _authored(path: Path, manifest: dict | None) -> bool:
    """Whether ``path`` holds bytes this generator wrote (as its manifest records)."""
    if manifest is None or path.name not in manifest["files"]:
        return False
    want = manifest["files"][path.name]
    return want is None or _sha256_file(path) == want


def check_can_write(directory: os.PathLike | str, participants: Iterable[int]) -> None:
    """Raise :class:`SyntheticDataError` if any target ``sNN.dat`` in ``directory`` exists and
    was not written by this generator (no matching hash in its manifest): the generator never
    replaces data it did not write (e.g. real DEAP files)."""
    d = Path(directory)
    m = read_manifest(d)
    foreign = [
        participant_path(d, p) for p in participants
        if participant_path(d, p).exists() and not _authored(participant_path(d, p), m)
    ]  # fmt: skip
    if foreign:
        names = ", ".join(f.name for f in foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        why = (
            f"no {MANIFEST} manifest"
            if m is None
            else f"not written by lava-nt's generator or changed since ({MANIFEST} has no "
            "matching hash)"
        )
        raise SyntheticDataError(
            f"'{d}' already holds {names} ({why}); refusing to replace data the generator did "
            "not write. Choose another directory or move those files away."
        )


def _write_manifest(d: Path, manifest: dict) -> None:
    atomic_write_text(d / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))


def generate_deap(
    directory: os.PathLike | str,
    config: SyntheticConfig | None = None,
    *,
    participants: Iterable[int] | None = None,
) -> list[Path]:
    """Write ``s01.dat`` .. ``sNN.dat`` (and a ``SYNTHETIC.json`` manifest) into ``directory``.

    ``participants`` restricts to some 1-based numbers (each file is the same as in a full run).
    Participants are generated and written one at a time. Existing files that the generator did
    not write are never replaced (:func:`check_can_write`, checked for every target before
    anything is written); the manifest records each file's hash before the file is written.
    """
    cfg = config or SyntheticConfig()
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ids = list(range(1, cfg.n_participants + 1)) if participants is None else list(participants)
    check_can_write(d, ids)
    old = read_manifest(d)
    same = old is not None and old.get("config") == json.loads(json.dumps(cfg.to_dict()))
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "generator": "lava_nt.examples.eeg.synthetic",
        "config": cfg.to_dict(),
        "files": dict(old["files"]) if old is not None else {},
        "participants": sorted(
            int(i)
            for i in (old.get("participants", []) if same else [])
            if participant_path(d, int(i)).exists() and int(i) not in ids
        ),  # fmt: skip
    }
    paths = []
    for p in ids:
        data = participant_bytes(generate_participant(cfg, p))
        path = participant_path(d, p)
        manifest["files"][path.name] = hashlib.sha256(data).hexdigest()
        _write_manifest(d, manifest)
        paths.append(atomic_write_bytes(path, data))
        del data
        manifest["participants"] = sorted({*manifest["participants"], p})
    _write_manifest(d, manifest)
    return paths
