"""The data of a run: DEAP-format files found (``--data``) or generated (synthetic, into
``RUN/data``), and their band-power features."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from lava_nt.examples.eeg.deap import DEAPFormatError, list_participants, participant_path
from lava_nt.examples.eeg.features import FeatureCache, FeatureParams, ParticipantFeatures
from lava_nt.examples.eeg.pipeline.config import PipelineError
from lava_nt.examples.eeg.pipeline.journal import canonical
from lava_nt.examples.eeg.synthetic import (
    SyntheticConfig,
    SyntheticDataError,
    generate_deap,
    read_manifest,
)


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
        m = read_manifest(d)
        source = "synthetic" if m is not None else "real"
        return DataInfo(d.resolve(), source, pool, m.get("config") if m else None)
    cfg = synthetic or SyntheticConfig()
    d = Path(run_dir) / "data"
    m = read_manifest(d)
    want = list(range(1, cfg.n_participants + 1))
    same = m is not None and m.get("config") == canonical(cfg.to_dict())
    have = same and all(
        p in m.get("participants", []) and participant_path(d, p).exists() for p in want
    )
    if not have:
        if m is not None and not same and any(d.glob("s*.dat")):
            raise PipelineError(
                f"{d} holds synthetic data of another configuration; use another run directory"
            )
        t0 = time.perf_counter()
        log(
            f"generating synthetic DEAP data: {cfg.n_participants} participants x "
            f"{cfg.n_trials} trials x {cfg.n_samples} samples into {d}"
        )
        try:
            generate_deap(d, cfg)
        except SyntheticDataError as e:
            raise PipelineError(str(e)) from None
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
