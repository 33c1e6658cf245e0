"""Leave-one-subject-out (LOSO) personalisation of the EEG valence SNN (thesis chapter 4).

For every left-out participant ``p`` (a *fold*):

1. **pretrain** a network on all the other participants of the data directory (weights and
   per-neuron biases; thesis: 15 epochs, Adam lr 1e-4, batch 32, spike L1 1e-3). The pretrained
   model is cached in the run directory, one per fold (``fold_group_size = k > 1`` is an explicit
   speed option: one pretraining, on everybody outside a group of ``k`` left-out participants,
   is shared by the group's folds; no left-out participant is ever in its own pretraining data);
2. for every **method** (:data:`METHODS`) and **seed**, copy the pretrained model, apply the
   tuning method (:func:`lava_nt.tuning.apply_tuning`: everything else frozen) and tune it on the
   participant's training part (thesis: up to 500 epochs), choose the epoch as the protocol says
   and evaluate on the participant's balanced test part;
3. optionally **deploy** the tuned model on Lava (:mod:`lava_nt.examples.eeg.deploy`): float and
   Loihi fixed point, all test samples in one long run per model and precision.

Protocols (:mod:`lava_nt.examples.eeg.protocols`): ``honest`` (default: the participant's trials
are split into train/validation/test before augmenting, the epoch is chosen on validation, patience
stops early) and ``thesis`` (split after augmenting, the best test epoch is reported, no early
stopping unless asked). The seed of a unit seeds its split, the tuning method's initialisation and
the trainer's batch order. Every report names the protocol.

Run directory (everything needed to resume lives here)::

    RUN/run.json                      settings, data source, participant pool (validated on resume)
    RUN/data/                         synthetic DEAP files (when no --data was given)
    RUN/features/                     band-power cache (FeatureCache)
    RUN/pretrained/<key>/<arch>/      trainer checkpoint + metrics.jsonl, model.pt when done
    RUN/units/pNN/<method>/seed-S/    trainer checkpoint + metrics.jsonl, model.pt, deploy.npz
    RUN/results.jsonl                 one JSON line per finished pretraining / unit / deployment
    RUN/report/                       tables and plots (:mod:`lava_nt.examples.eeg.report`)

``results.jsonl`` lines are appended with one ``write`` on an ``O_APPEND`` descriptor and fsynced;
a torn last line (a kill during the write) is ignored with a warning and terminated before the
next append. A run that is killed continues where it stopped: finished units (a ``tune`` line) are
skipped, an interrupted training resumes from its checkpoint (the trainer's resume is exact), and
the results equal those of an uninterrupted run. Everything is deterministic given the seeds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import fcntl
import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lava_nt.examples.eeg.deap import DEAPFormatError, list_participants, participant_path
from lava_nt.examples.eeg.features import FeatureCache, FeatureParams, ParticipantFeatures
from lava_nt.examples.eeg.protocols import (
    PROTOCOLS,
    TuningData,
    make_split,
    pretrain_data,
    tuning_data,
)
from lava_nt.examples.eeg.synthetic import MANIFEST, SyntheticConfig, generate_deap

__all__ = [
    "ARCHS",
    "DEFAULT_METHODS",
    "METHODS",
    "PipelineConfig",
    "PipelineError",
    "QUICK_METHODS",
    "RunSummary",
    "build_arch",
    "check_methods",
    "load_results",
    "load_run_info",
    "load_unit_model",
    "run_pipeline",
    "unit_data",
]

SCHEMA = 1
RUN_JSON = "run.json"
RESULTS = "results.jsonl"
LOCK = ".lock"
N_FEATURES = 160


class PipelineError(ValueError):
    """A user-facing error of the EEG pipeline (bad settings, data or run directory)."""


# ---------------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class Arch:
    """A network architecture pretrained per fold: ``160 -> hidden -> 2 * population``."""

    name: str
    hidden: tuple[int, ...]
    population: int
    description: str

    @property
    def sizes(self) -> list[int]:
        return [N_FEATURES, *self.hidden, 2 * self.population]


ARCHS = {
    "main": Arch("main", (400, 800), 50, "160-400-800-100 (thesis network, 50 neurons per class)"),
    "ablation": Arch(
        "ablation", (1000, 277), 49, "160-1000-277-98 (volumetric ablation, 49 neurons per class)"
    ),
}


@dataclass(frozen=True)
class Method:
    """One row of the results table: which pretrained network and which tuning."""

    name: str
    arch: str
    tuning: tuple[str, ...] | None  # apply_tuning methods; None: no tuning (pretrained as is)
    kwargs: tuple[tuple[str, object], ...]  # extra apply_tuning arguments
    label: str
    tuned: str  # what is trained, for the parameter table

    def tuning_kwargs(self) -> dict:
        return dict(self.kwargs)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("none", "main", None, (), "no tuning", "nothing (pretrained on the others)"),
        Method("nt2", "main", ("nt2",), (), "traditional bias (NT2)", "biases b of every layer"),
        Method("nt1", "main", ("nt1",), (), "multiplicative gain (NT1)", "gains g of every layer"),
        Method(
            "spiking_bias",
            "main",
            ("spiking_bias",),
            (),
            "spiking bias",
            "bias weights w_b of one spiking bias neuron per neuron (W_in fixed)",
        ),
        Method(
            "spiking_bias_sparse",
            "main",
            ("spiking_bias_sparse",),
            (("sparsity", 0.9),),
            "spiking bias, sparse W_in tuned",
            "w_b + 10% of each spiking-bias input matrix (90% sparse)",
        ),
        Method(
            "volumetric",
            "main",
            ("volumetric",),
            (("layers", (0,)), ("group_size", 10), ("input_sparsity", 0.85)),
            "volumetric",
            "40 bias neurons on layer 1 (groups of 10): w_b + 15% of W_in (160x40)",
        ),
        Method(
            "ablation",
            "ablation",
            ("nt2",),
            (("layers", (0,)),),
            "ablation (1000-277-98, NT2 layer 1)",
            "biases of layer 1 of the 160-1000-277-98 network",
        ),
        Method("tft", "main", ("tft",), (), "traditional fine-tuning", "every weight and bias"),
    )
}
DEFAULT_METHODS = (
    "none",
    "nt2",
    "spiking_bias",
    "spiking_bias_sparse",
    "volumetric",
    "ablation",
    "tft",
)
QUICK_METHODS = ("none", "nt2", "spiking_bias", "volumetric")


def check_methods(methods: Iterable[str]) -> tuple[str, ...]:
    """Validate method names (clear error with a suggestion); keeps order, drops duplicates."""
    out: list[str] = []
    for m in methods:
        if m not in METHODS:
            close = difflib.get_close_matches(str(m), list(METHODS), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise PipelineError(f"unknown method '{m}'.{hint} Methods: {', '.join(METHODS)}")
        if m not in out:
            out.append(m)
    if not out:
        raise PipelineError("no method given")
    return tuple(out)


def build_arch(arch: str, *, beta: float, seed: int):
    """A fresh (untrained) network of architecture ``arch`` (see :data:`ARCHS`)."""
    from lava_nt.builder import build_network

    a = ARCHS[arch]
    return build_network(
        N_FEATURES, list(a.hidden), n_classes=2, population=a.population, bias=True,
        beta=beta, seed=seed,
    )  # fmt: skip


# ---------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class PipelineConfig:
    """Settings of a LOSO run (defaults: the thesis' chapter 4 under the honest protocol).

    ``participants``: the left-out participants (folds); None = every participant of the data.
    ``patience``: epochs without improvement of the selection metric before tuning stops;
    ``"auto"`` = 100 for ``honest``, None (never) for ``thesis`` (the thesis ran all epochs).
    ``fold_group_size``: 1 = one pretraining per left-out participant (thesis); ``k > 1`` shares
    one pretraining (on everybody outside the group) among ``k`` consecutive folds (speed option).
    ``fused``: train through :class:`lava_nt.nn.fused.FusedNTNetwork` (same function and
    gradients, faster on CPU). ``threads``: torch intra-op threads during the run (1 is several
    times faster than 2 for these small batches on a shared, loaded 2-core machine; part of the
    run's identity because reductions may round differently). ``lava``/``lava_fixed``: deploy
    tuned models on Lava (float / quantised); ``lava_samples``: deploy at most this many test
    samples per model (None: all).
    """

    protocol: str = "honest"
    methods: tuple[str, ...] = DEFAULT_METHODS
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    participants: tuple[int, ...] | None = None
    pretrain_epochs: int = 15
    tune_epochs: int = 500
    patience: int | None | str = "auto"
    lr: float = 1e-4
    tune_lr: float = 1e-4
    batch_size: int = 32
    T: int = 25
    spike_l1: float = 1e-3
    beta: float = 0.9
    pretrain_seed: int = 0
    feature_seed: int = 0
    test_fraction: float = 0.2
    val_fraction: float = 0.2
    balance_tol: float = 0.10
    fold_group_size: int = 1
    fused: bool = True
    threads: int = 1
    lava: bool = True
    lava_fixed: bool = True
    lava_samples: int | None = None
    lava_timeout: float | None = None
    progress: bool = False

    # settings that may differ between invocations on the same run directory (more folds, more
    # methods or seeds, Lava on or off); all others must match run.json
    EXTENSIBLE = ("methods", "seeds", "participants", "lava", "lava_fixed", "lava_timeout",
                  "progress")  # fmt: skip

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise PipelineError(
                f"unknown protocol '{self.protocol}'; protocols: {', '.join(PROTOCOLS)}"
            )
        object.__setattr__(self, "methods", check_methods(self.methods))
        seeds = tuple(int(s) for s in self.seeds)
        if not seeds:
            raise PipelineError("no seed given")
        if len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise PipelineError(f"seeds must be distinct and >= 0, got {list(seeds)}")
        object.__setattr__(self, "seeds", seeds)
        if self.participants is not None:
            ps = tuple(int(p) for p in self.participants)
            if not ps or len(set(ps)) != len(ps) or min(ps) < 1:
                raise PipelineError(
                    f"participants must be distinct numbers >= 1, got {list(self.participants)}"
                )
            object.__setattr__(self, "participants", ps)
        for name in ("pretrain_epochs", "tune_epochs", "batch_size", "T", "fold_group_size",
                     "threads"):  # fmt: skip
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise PipelineError(f"{name} must be a positive integer, got {v!r}")
        if self.patience == "auto":
            object.__setattr__(self, "patience", 100 if self.protocol == "honest" else None)
        if self.patience is not None and (
            isinstance(self.patience, bool) or not isinstance(self.patience, int)
            or self.patience < 1
        ):  # fmt: skip
            raise PipelineError(
                f"patience must be a positive integer or None, got {self.patience!r}"
            )
        for name in ("lr", "tune_lr"):
            v = float(getattr(self, name))
            if not (v > 0 and math.isfinite(v)):
                raise PipelineError(f"{name} must be positive, got {v}")
        if not 0.0 < self.beta <= 1.0:
            raise PipelineError(f"beta must be in (0, 1], got {self.beta}")
        if self.lava_samples is not None and self.lava_samples < 1:
            raise PipelineError(f"lava_samples must be >= 1, got {self.lava_samples}")

    @property
    def select(self) -> str:
        """The trainer's epoch selection: validation (honest) or best test epoch (thesis)."""
        if self.protocol == "thesis":
            return "test"
        return "val" if self.val_fraction > 0 else "last"

    def identity(self) -> dict:
        """The settings every unit of a run directory must share (stored in run.json)."""
        d = dataclasses.asdict(self)
        return {k: _jsonable(v) for k, v in d.items() if k not in self.EXTENSIBLE}

    def describe(self) -> str:
        pat = "no early stopping" if self.patience is None else f"patience {self.patience}"
        sel = {"val": "epoch chosen on validation", "test": "best test epoch (thesis)",
               "last": "last epoch"}[self.select]  # fmt: skip
        return (
            f"pretrain {self.pretrain_epochs} epochs (lr {self.lr:g}), tune up to "
            f"{self.tune_epochs} epochs (lr {self.tune_lr:g}, {pat}, {sel}), Adam, batch "
            f"{self.batch_size}, T {self.T}, spike L1 {self.spike_l1:g}, beta {self.beta:g}, "
            f"split test {self.test_fraction:g} / val {self.val_fraction:g} (balance "
            f"{self.balance_tol:g}), pretraining seed {self.pretrain_seed}, feature seed "
            f"{self.feature_seed}, "
            + (
                "one pretraining per fold"
                if self.fold_group_size == 1
                else f"one pretraining per group of {self.fold_group_size} folds"
            )  # fmt: skip
        )


PROTOCOL_TEXT = {
    "honest": "honest: trials split into train/validation/test before augmenting, epoch chosen "
    "on validation, balanced test part",
    "thesis": "thesis: instances split after augmenting (copies of a trial on both sides), best "
    "test epoch reported, balanced test part",
}


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


# ---------------------------------------------------------------------------------- files


def _atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_torch_save(obj, path: Path) -> None:
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _terminate_torn_line(path: Path) -> None:
    """If a kill left a partial last line, end it so the next append starts a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
            f.write(b"\n")
            f.flush()
            os.fsync(f.fileno())


def append_result(run_dir: Path, row: dict) -> None:
    """Append one JSON line to ``results.jsonl`` with a single ``write`` (O_APPEND) + fsync."""
    path = Path(run_dir) / RESULTS
    line = (json.dumps(_jsonable_row(row), sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(line)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


def _jsonable_row(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, dict):
            v = _jsonable_row(v)
        elif isinstance(v, list | tuple):
            v = [_jsonable(x) for x in v]
        else:
            v = _jsonable(v)
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out


def load_results(run_dir) -> list[dict]:
    """Valid lines of ``results.jsonl`` (torn or foreign lines are skipped with a warning).

    Each (kind, key) is kept once (the first line wins).
    """
    path = Path(run_dir) / RESULTS
    if not path.exists():
        return []
    rows, seen = [], set()
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or row.get("schema") != SCHEMA or "kind" not in row:
                    raise ValueError("not a results line of this schema")
            except ValueError as e:
                warnings.warn(
                    f"{path}:{i}: skipping an unreadable line ({e}); probably a run was killed "
                    "while writing it",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            key = _row_key(row)
            if key in seen:
                continue
            seen.add(key)
            rows.append(row)
    return rows


def _row_key(row: dict) -> tuple:
    if row["kind"] == "pretrain":
        return ("pretrain", row.get("key"), row.get("arch"))
    return (row["kind"], row.get("participant"), row.get("method"), row.get("seed"))


@contextlib.contextmanager
def _torch_threads(n: int):
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def _run_lock(run_dir: Path):
    path = run_dir / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PipelineError(
                f"another lava-nt eeg run is using {run_dir} (lock {path} is held)"
            ) from None
        yield
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------- data


@dataclass
class DataInfo:
    directory: Path
    source: str  # "synthetic" or "real"
    pool: list[int]
    synthetic: dict | None = None

    def to_dict(self) -> dict:
        return {
            "directory": str(self.directory),
            "source": self.source,
            "pool": list(self.pool),
            "synthetic": self.synthetic,
        }


def _synthetic_manifest(d: Path) -> dict | None:
    try:
        m = json.loads((d / MANIFEST).read_text())
        return m if isinstance(m, dict) else None
    except (OSError, ValueError):
        return None


def prepare_data(
    run_dir: Path,
    data_dir=None,
    synthetic: SyntheticConfig | None = None,
    log: Callable[[str], None] = print,
) -> DataInfo:
    """Locate (``data_dir``) or generate (synthetic, into ``RUN/data``) the DEAP-format files."""
    if data_dir is not None:
        if synthetic is not None:
            raise PipelineError("give either a data directory or a synthetic configuration")
        d = Path(data_dir)
        if not d.exists():
            raise PipelineError(f"data directory '{d}' does not exist")
        if not d.is_dir():
            raise PipelineError(f"data directory '{d}' is not a directory")
        pool = list_participants(d)
        if not pool:
            raise PipelineError(
                f"data directory '{d}' holds no DEAP participant files (sNN.dat, from "
                "data_preprocessed_python); generate synthetic ones with `lava-nt eeg generate`"
            )
        m = _synthetic_manifest(d)
        source = "synthetic" if m is not None else "real"
        return DataInfo(d.resolve(), source, pool, m.get("config") if m else None)
    cfg = synthetic or SyntheticConfig()
    d = Path(run_dir) / "data"
    m = _synthetic_manifest(d)
    want = list(range(1, cfg.n_participants + 1))
    have = (
        m is not None
        and m.get("config") == json.loads(json.dumps(cfg.to_dict()))
        and all(participant_path(d, p).exists() for p in want)
    )
    if not have:
        if d.exists() and any(d.glob("s*.dat")) and m is not None and (
            m.get("config") != json.loads(json.dumps(cfg.to_dict()))
        ):  # fmt: skip
            raise PipelineError(
                f"{d} holds synthetic data of another configuration; use another run directory"
            )
        t0 = time.perf_counter()
        log(
            f"generating synthetic DEAP data: {cfg.n_participants} participants x "
            f"{cfg.n_trials} trials x {cfg.n_samples} samples into {d}"
        )
        generate_deap(d, cfg)
        log(f"  done in {time.perf_counter() - t0:.1f} s")
    # generated inside the run directory: recorded relative to it (the run stays movable)
    return DataInfo(Path("data"), "synthetic", want, cfg.to_dict())


def load_features(
    data: DataInfo, run_dir: Path, feature_seed: int, participants: Iterable[int]
) -> dict[int, ParticipantFeatures]:
    cache = FeatureCache(Path(run_dir) / "features")
    params = FeatureParams()
    out = {}
    for p in participants:
        try:
            out[p] = cache.features(participant_path(data.directory, p), params, feature_seed)
        except DEAPFormatError as e:
            raise PipelineError(str(e)) from e
    return out


# ---------------------------------------------------------------------------------- run info


def _check_run_json(run_dir: Path, config: PipelineConfig, data: DataInfo) -> dict:
    path = run_dir / RUN_JSON
    ident = config.identity()
    info = {
        "schema": SCHEMA,
        "config": ident,
        "data": data.to_dict(),
        "requested": {
            "methods": list(config.methods),
            "seeds": list(config.seeds),
            "participants": None if config.participants is None else list(config.participants),
        },
    }
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise PipelineError(f"{path} is unreadable ({e}); use another run directory") from e
        if old.get("schema") != SCHEMA:
            raise PipelineError(f"{path} has schema {old.get('schema')}, expected {SCHEMA}")
        diffs = [
            f"{k}: {old['config'].get(k)!r} -> {v!r}"
            for k, v in ident.items()
            if old["config"].get(k) != v
        ]
        od = old.get("data", {})
        for k in ("source", "pool", "synthetic"):
            if od.get(k) != info["data"][k]:
                diffs.append(f"data {k}: {od.get(k)!r} -> {info['data'][k]!r}")
        if od.get("directory") != info["data"]["directory"] and data.source == "real":
            diffs.append(f"data directory: {od.get('directory')} -> {data.directory}")
        if diffs:
            raise PipelineError(
                f"run directory {run_dir} was started with other settings ("
                + "; ".join(diffs)
                + "); use another --out or the original settings"
            )
        req = old.get("requested", {})
        for k in ("methods", "seeds"):
            merged = list(req.get(k, []))
            merged += [x for x in info["requested"][k] if x not in merged]
            info["requested"][k] = merged
        if req.get("participants") is None or info["requested"]["participants"] is None:
            info["requested"]["participants"] = None
        else:
            merged = list(req["participants"])
            merged += [x for x in info["requested"]["participants"] if x not in merged]
            info["requested"]["participants"] = merged
        info["created"] = old.get("created")
    else:
        info["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    _atomic_write_text(path, json.dumps(info, indent=1, sort_keys=True) + "\n")
    return info


def load_run_info(run_dir) -> dict:
    """``run.json`` of a run directory (PipelineError if it is not one)."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_JSON
    if not run_dir.is_dir():
        raise PipelineError(f"run directory '{run_dir}' does not exist")
    if not path.exists():
        raise PipelineError(f"'{run_dir}' is not an EEG run directory (no {RUN_JSON})")
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise PipelineError(f"{path} is unreadable ({e})") from e
    if info.get("schema") != SCHEMA:
        raise PipelineError(f"{path} has schema {info.get('schema')}, expected {SCHEMA}")
    return info


def config_from_info(info: dict, **overrides) -> PipelineConfig:
    """The :class:`PipelineConfig` of a run (requested methods/seeds/folds included)."""
    c = dict(info["config"])
    req = info.get("requested", {})
    c["methods"] = tuple(req.get("methods") or DEFAULT_METHODS)
    c["seeds"] = tuple(req.get("seeds") or (0,))
    c["participants"] = None if req.get("participants") is None else tuple(req["participants"])
    c.update(overrides)
    names = {f.name for f in dataclasses.fields(PipelineConfig)}
    return PipelineConfig(**{k: v for k, v in c.items() if k in names})


# ---------------------------------------------------------------------------------- folds


def fold_groups(pool: Sequence[int], size: int) -> dict[int, tuple[int, ...]]:
    """Participant -> its group of ``size`` consecutive participants of the pool (sorted), which
    share one pretraining on everybody outside the group (``size = 1``: LOSO proper)."""
    pool = sorted(pool)
    out = {}
    for i in range(0, len(pool), size):
        g = tuple(pool[i : i + size])
        for p in g:
            out[p] = g
    return out


def pretrain_key(group: Sequence[int]) -> str:
    return "without-" + "-".join(f"p{p:02d}" for p in group)


def unit_dir(run_dir: Path, participant: int, method: str, seed: int) -> Path:
    return Path(run_dir) / "units" / f"p{participant:02d}" / method / f"seed-{seed}"


def _train_config(config: PipelineConfig, *, tune: bool, seed: int):
    from lava_nt.training import TrainConfig

    if tune:
        return TrainConfig(
            epochs=config.tune_epochs,
            lr=config.tune_lr,
            batch_size=config.batch_size,
            T=config.T,
            spike_l1=config.spike_l1,
            select=config.select,
            patience=config.patience,
            seed=seed,
            progress=config.progress,
        )
    return TrainConfig(
        epochs=config.pretrain_epochs,
        lr=config.lr,
        batch_size=config.batch_size,
        T=config.T,
        spike_l1=config.spike_l1,
        select="last",
        seed=seed,
        progress=config.progress,
    )


def _tensors(x: np.ndarray, y: np.ndarray):
    import torch

    return torch.as_tensor(np.asarray(x), dtype=torch.float32), torch.as_tensor(
        np.asarray(y), dtype=torch.int64
    )


def _train(net, train_data, cfg, run_dir: Path, fused: bool, val_data=None, test_data=None):
    """Train ``net`` in place with the trainer (checkpoint/resume in ``run_dir``: a run killed
    after its last or early-stopping epoch is finalised on resume, not trained further); returns
    ``(history, best_epoch, stopped_early)``. ``net`` ends holding the selected epoch."""
    from lava_nt.training import train

    model = net
    if fused:
        from lava_nt.nn.fused import FusedNTNetwork

        model = FusedNTNetwork.from_network(net)
    res = train(
        model, train_data, cfg, val_data=val_data, test_data=test_data, run_dir=run_dir,
        resume=True,
    )  # fmt: skip
    return res.history, res.best_epoch, res.stopped_early


# ---------------------------------------------------------------------------------- pipeline


@dataclass
class RunSummary:
    run_dir: Path
    units_total: int
    units_run: int
    units_skipped: int
    deployed: int
    seconds: float
    report: dict = field(default_factory=dict)


class _Pipeline:
    def __init__(self, run_dir: Path, config: PipelineConfig, data: DataInfo, log, bar=None):
        self.run_dir = run_dir
        self.config = config
        self.data = data
        self.log = log
        self.bar = bar
        self.features: dict[int, ParticipantFeatures] = {}
        self._pretrained: dict[tuple[str, str], dict] = {}
        self.stop_after_units: int | None = None  # tests: simulate a kill
        self.kill_in_training: tuple | None = None  # tests: (participant, method, seed, epoch)
        self._units_done_now = 0

    # ---- data for one unit ---------------------------------------------------------------
    def unit_data(self, participant: int, seed: int) -> TuningData:
        c = self.config
        f = self.features[participant]
        kw = dict(
            seed=seed,
            participant=participant,
            test_fraction=c.test_fraction,
            balance_tol=c.balance_tol,
            n_augment=f.powers.shape[1],
        )
        if c.protocol == "honest":
            kw["val_fraction"] = c.val_fraction
        return tuning_data(f, make_split(c.protocol, f.valence_high, **kw))

    # ---- pretraining ---------------------------------------------------------------------
    def pretrained(self, group: tuple[int, ...], arch: str) -> dict:
        """The pretrained state dict of ``arch`` for the fold group (trained once, cached)."""
        import torch

        key = pretrain_key(group)
        if (key, arch) in self._pretrained:
            return self._pretrained[(key, arch)]
        d = self.run_dir / "pretrained" / key / arch
        model_path = d / "model.pt"
        others = [q for q in self.data.pool if q not in group]
        if not others:
            raise PipelineError(
                f"no participant left to pretrain on without {list(group)} (pool "
                f"{self.data.pool}); LOSO needs at least 2 participants"
            )
        c = self.config
        if model_path.exists():
            saved = torch.load(model_path, weights_only=False)
            if saved.get("pretrain_participants") != others or saved.get("arch") != arch:
                raise PipelineError(f"{model_path} belongs to another pretraining; remove it")
            self._pretrained[(key, arch)] = saved["state"]
            return saved["state"]
        self._write(
            f"pretraining {ARCHS[arch].description} on {len(others)} participants "
            f"(all but {', '.join(map(str, group))}), {c.pretrain_epochs} epochs"
        )
        t0 = time.perf_counter()
        x, y = pretrain_data([self.features[q] for q in others])
        net = build_arch(arch, beta=c.beta, seed=c.pretrain_seed)
        cfg = _train_config(c, tune=False, seed=c.pretrain_seed)
        hist, _, _ = _train(net, _tensors(x, y), cfg, d, c.fused)
        state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        secs = time.perf_counter() - t0
        _atomic_torch_save(
            {"state": state, "arch": arch, "pretrain_participants": others, "key": key}, model_path
        )
        last = hist[-1] if hist else {}
        append_result(
            self.run_dir,
            {
                "schema": SCHEMA,
                "kind": "pretrain",
                "key": key,
                "arch": arch,
                "left_out": list(group),
                "pretrain_participants": others,
                "n_train": int(len(y)),
                "epochs": len(hist),
                "train_acc": last.get("train_acc"),
                "train_loss": last.get("train_loss"),
                "seconds": round(secs, 2),
            },
        )
        acc = last.get("train_acc")
        self._write(
            f"  pretrained in {secs:.0f} s, final training accuracy "
            + (f"{acc:.3f}" if acc is not None else "n/a")
        )
        self._pretrained[(key, arch)] = state
        return state

    def _write(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg)
        else:
            self.log(msg)

    # ---- one unit ------------------------------------------------------------------------
    def tuned_network(self, participant: int, method: str, seed: int, group):
        """A network holding the pretrained state with ``method`` applied (untrained)."""
        from lava_nt.tuning import apply_tuning

        m = METHODS[method]
        state = self.pretrained(group, m.arch)
        net = build_arch(m.arch, beta=self.config.beta, seed=self.config.pretrain_seed)
        net.load_state_dict(state)
        n_trainable = 0
        if m.tuning is not None:
            rep = apply_tuning(net, list(m.tuning), seed=seed, **m.tuning_kwargs())
            n_trainable = rep.total
        else:
            net.set_trainable(weight=False, bias=False, gain=False)
        return net, n_trainable

    def run_unit(self, participant: int, method: str, seed: int, group) -> dict:
        import torch

        from lava_nt.training import TrainConfig, evaluate

        c = self.config
        # the fold's pretraining (trained lazily by its first unit) is not part of the unit's time
        # (it has its own results line)
        self.pretrained(group, METHODS[method].arch)
        t0 = time.perf_counter()
        td = self.unit_data(participant, seed)
        net, n_trainable = self.tuned_network(participant, method, seed, group)
        d = unit_dir(self.run_dir, participant, method, seed)
        d.mkdir(parents=True, exist_ok=True)
        model_path = d / "model.pt"
        hist, best_epoch, stopped = [], None, False
        if METHODS[method].tuning is not None:
            if model_path.exists():
                saved = torch.load(model_path, weights_only=False)
                net.load_state_dict(saved["state"])
                hist, best_epoch, stopped = saved["history"], saved["best_epoch"], saved["stopped"]
            else:
                cfg = _train_config(c, tune=True, seed=seed)
                val = _tensors(td.x_val, td.y_val) if c.select == "val" else None
                test = _tensors(td.x_test, td.y_test) if c.select == "test" else None
                if self.kill_in_training is not None and self.kill_in_training[:3] == (
                    participant, method, seed
                ):  # fmt: skip
                    self._simulate_kill_in_training(net, td, cfg, d, val, test)
                hist, best_epoch, stopped = _train(
                    net, _tensors(td.x_train, td.y_train), cfg, d, c.fused, val, test
                )
                _atomic_torch_save(
                    {
                        "state": {k: v.detach().clone() for k, v in net.state_dict().items()},
                        "participant": participant,
                        "method": method,
                        "seed": seed,
                        "history": hist,
                        "best_epoch": best_epoch,
                        "stopped": stopped,
                    },
                    model_path,
                )
        ecfg = TrainConfig(T=c.T, batch_size=c.batch_size, spike_l1=c.spike_l1, select="last")
        res = {
            part: evaluate(net, *_tensors(getattr(td, f"x_{part}"), getattr(td, f"y_{part}")), ecfg)
            if len(getattr(td, f"y_{part}")) else {"acc": None}
            for part in ("train", "val", "test")
        }  # fmt: skip
        return {
            "schema": SCHEMA,
            "kind": "tune",
            "participant": participant,
            "method": method,
            "seed": seed,
            "protocol": c.protocol,
            "arch": METHODS[method].arch,
            "pretrain_key": pretrain_key(group),
            "test_acc": res["test"]["acc"],
            "val_acc": res["val"]["acc"],
            "train_acc": res["train"]["acc"],
            "n_trainable": int(n_trainable),
            "n_train": int(len(td.y_train)),
            "n_val": int(len(td.y_val)),
            "n_test": int(len(td.y_test)),
            "test_high": int(np.sum(td.y_test)),
            "best_epoch": best_epoch,
            "epochs_run": len(hist),
            "stopped_early": bool(stopped),
            "selection": c.select,
            "seconds": round(time.perf_counter() - t0, 2),
        }

    def _simulate_kill_in_training(self, net, td, cfg, d, val, test):
        """Tests: train until the given epoch with the trainer's stop hook, then 'die'."""
        from lava_nt.training import train

        model = net
        if self.config.fused:
            from lava_nt.nn.fused import FusedNTNetwork

            model = FusedNTNetwork.from_network(net)
        epoch = self.kill_in_training[3]
        self.kill_in_training = None
        train(
            model, _tensors(td.x_train, td.y_train), cfg, val_data=val, test_data=test,
            run_dir=d, resume=True, stop_after_epoch=epoch,
        )  # fmt: skip
        raise _SimulatedKill(f"simulated kill in training after epoch {epoch}")

    def deploy_unit(self, participant: int, method: str, seed: int, group) -> dict:
        import torch

        from lava_nt.examples.eeg.deploy import deploy_model

        t0 = time.perf_counter()
        td = self.unit_data(participant, seed)
        net, _ = self.tuned_network(participant, method, seed, group)
        mp = unit_dir(self.run_dir, participant, method, seed) / "model.pt"
        if METHODS[method].tuning is not None:
            net.load_state_dict(torch.load(mp, weights_only=False)["state"])
        x, y = td.x_test, td.y_test
        n = self.config.lava_samples
        if n is not None and n < len(y):
            # evenly spread over the test part (consecutive instances are one trial's copies)
            idx = np.unique(np.linspace(0, len(y) - 1, n).round().astype(np.int64))
            x, y = x[idx], y[idx]
        row = deploy_model(
            net,
            x,
            y,
            T=self.config.T,
            fixed=self.config.lava_fixed,
            timeout=self.config.lava_timeout,
            save_spikes=unit_dir(self.run_dir, participant, method, seed) / "deploy.npz",
        )
        row.update(
            schema=SCHEMA, kind="deploy", participant=participant, method=method, seed=seed,
            protocol=self.config.protocol, seconds=round(time.perf_counter() - t0, 2),
        )  # fmt: skip
        return row


class _SimulatedKill(BaseException):
    """Raised by the test hooks to simulate a killed process."""


def _progress_bar(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="LOSO units", unit="unit", dynamic_ncols=True)


def run_pipeline(
    run_dir,
    config: PipelineConfig | None = None,
    *,
    data_dir=None,
    synthetic: SyntheticConfig | None = None,
    log: Callable[[str], None] = print,
    report: bool = True,
    _stop_after_units: int | None = None,
    _kill_in_training: tuple | None = None,
) -> RunSummary:
    """Run (or continue) a LOSO experiment in ``run_dir`` and write its report.

    Args:
        run_dir: the run directory (created; an existing one is resumed if its settings match).
        config: the settings (:class:`PipelineConfig`; default: thesis settings, honest).
        data_dir: a directory of DEAP ``sNN.dat`` files (real or synthetic); None generates
            synthetic data (``synthetic``, default :class:`SyntheticConfig`) into ``RUN/data``.
        log: where progress messages go.
        report: write the tables and plots at the end (:func:`report.write_report`).

    Returns a :class:`RunSummary` (``report`` holds the written paths).
    """
    t_start = time.perf_counter()
    config = config or PipelineConfig()
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise PipelineError(f"run directory '{run_dir}' is not a directory")
    if data_dir is not None and not Path(data_dir).exists():
        raise PipelineError(f"data directory '{data_dir}' does not exist")
    run_dir.mkdir(parents=True, exist_ok=True)
    with _run_lock(run_dir), _torch_threads(config.threads):
        recorded = prepare_data(run_dir, data_dir, synthetic, log)
        data = dataclasses.replace(recorded, directory=run_dir / recorded.directory)
        if len(data.pool) < 2:
            raise PipelineError(
                f"leave-one-subject-out needs at least 2 participants (one to leave out, one to "
                f"pretrain on); {data.directory} has {len(data.pool)}"
            )
        folds = list(config.participants) if config.participants is not None else data.pool
        missing = [p for p in folds if p not in data.pool]
        if missing:
            raise PipelineError(
                f"participants {missing} are not in {data.directory} (it has {_ranges(data.pool)})"
            )
        # groups come from the whole pool (stable when later invocations add folds)
        groups = fold_groups(data.pool, config.fold_group_size)
        for g in {groups[p] for p in folds}:
            if len(data.pool) - len(g) < 1:
                raise PipelineError(
                    f"no participant left to pretrain on without {list(g)}: the data has only "
                    f"{len(data.pool)} participants; use a smaller fold group or more participants"
                )
        _check_run_json(run_dir, config, recorded)
        _terminate_torn_line(run_dir / RESULTS)
        done = load_results(run_dir)
        tuned = {(r["participant"], r["method"], r["seed"]) for r in done if r["kind"] == "tune"}
        deployed = {
            (r["participant"], r["method"], r["seed"]) for r in done if r["kind"] == "deploy"
        }
        units = [(p, m, s) for p in folds for m in config.methods for s in config.seeds]
        todo = [u for u in units if u not in tuned or (config.lava and u not in deployed)]
        log(
            f"EEG LOSO run in {run_dir}: protocol {config.protocol}, {data.source} data "
            f"({len(data.pool)} participants), folds {_ranges(folds)}, methods "
            f"{', '.join(config.methods)}, seeds {list(config.seeds)}: {len(units)} units, "
            f"{len(units) - len(todo)} already finished"
        )
        if todo:
            log("computing band-power features ...")
            pipe = _Pipeline(run_dir, config, data, log)
            pipe.features = load_features(data, run_dir, config.feature_seed, data.pool)
            pipe.kill_in_training = _kill_in_training
            bar = _progress_bar(len(units), len(units) - len(todo), config.progress)
            pipe.bar = bar
            n_run = n_dep = 0
            try:
                for u in todo:
                    p, m, s = u
                    if bar is not None:
                        bar.set_postfix_str(f"p{p:02d} {m} seed {s}")
                    if u not in tuned:
                        row = pipe.run_unit(p, m, s, groups[p])
                        append_result(run_dir, row)
                        tuned.add(u)
                        n_run += 1
                        acc = row["test_acc"]
                        pipe._write(
                            f"participant {p:2d} {m:20s} seed {s}: test accuracy "
                            + ("n/a" if acc is None else f"{acc:.3f}")
                            + f" ({row['n_trainable']:,} trainable, {row['epochs_run']} epochs,"
                            f" {row['seconds']:.0f} s)"
                        )
                    if config.lava and u not in deployed:
                        row = pipe.deploy_unit(p, m, s, groups[p])
                        append_result(run_dir, row)
                        deployed.add(u)
                        n_dep += 1
                        pipe._write("    " + _deploy_line(row))
                    if bar is not None:
                        bar.update(1)
                    if _stop_after_units is not None and n_run >= _stop_after_units:
                        raise _SimulatedKill(f"simulated kill after {n_run} units")
            finally:
                if bar is not None:
                    bar.close()
        else:
            n_run = n_dep = 0
    summary = RunSummary(
        run_dir=run_dir,
        units_total=len(units),
        units_run=n_run,
        units_skipped=len(units) - len(todo),
        deployed=n_dep,
        seconds=time.perf_counter() - t_start,
    )
    if report:
        from lava_nt.examples.eeg.report import write_report

        summary.report = write_report(run_dir, log=log)
    return summary


def _deploy_line(row: dict) -> str:
    def pct(v):
        return "n/a" if v is None else f"{v:.3f}"

    s = (
        f"Lava float accuracy {pct(row.get('lava_float_acc'))} (torch {pct(row.get('torch_acc'))},"
        f" spike match {pct(row.get('float_output_match'))})"
    )
    if row.get("fixed_status") == "ok":
        s += f", Lava fixed {pct(row.get('lava_fixed_acc'))}"
    else:
        s += f", fixed point {row.get('fixed_status')}"
    return s + f" on {row.get('n_samples')} test samples"


def _ranges(ids: Sequence[int]) -> str:
    ids = sorted(ids)
    if not ids:
        return "none"
    out, start, prev = [], ids[0], ids[0]
    for i in ids[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(out)


# ---------------------------------------------------------------------------------- reload


def _pipeline_for(run_dir, need_features: Iterable[int] = ()) -> _Pipeline:
    run_dir = Path(run_dir)
    info = load_run_info(run_dir)
    config = config_from_info(info)
    d = info["data"]
    data = DataInfo(run_dir / d["directory"], d["source"], list(d["pool"]), d.get("synthetic"))
    pipe = _Pipeline(run_dir, config, data, log=lambda s: None)
    need = list(need_features)
    if need:
        pipe.features = load_features(data, run_dir, config.feature_seed, need)
    return pipe


def load_unit_model(run_dir, participant: int, method: str, seed: int):
    """The tuned network of one finished unit (float32 ``NTNetwork``) and its :class:`TuningData`.

    Needs the run directory's pretrained model and (for the data) its data directory.
    """
    import torch

    pipe = _pipeline_for(run_dir, [participant])
    group = fold_groups(pipe.data.pool, pipe.config.fold_group_size)[participant]
    net, _ = pipe.tuned_network(participant, method, seed, group)
    mp = unit_dir(run_dir, participant, method, seed) / "model.pt"
    if METHODS[method].tuning is not None:
        if not mp.exists():
            raise PipelineError(f"no tuned model at {mp}")
        net.load_state_dict(torch.load(mp, weights_only=False)["state"])
    return net, pipe.unit_data(participant, seed)


def unit_data(run_dir, participant: int, seed: int) -> TuningData:
    """The split and binary inputs of one participant and seed, as the run used them."""
    return _pipeline_for(run_dir, [participant]).unit_data(participant, seed)
