"""``run_pipeline``: every unit of a LOSO run in order, resumable, then the report."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lava_nt.examples.eeg.pipeline.config import METHODS, PipelineConfig, PipelineError
from lava_nt.examples.eeg.pipeline.data import load_features, prepare_data
from lava_nt.examples.eeg.pipeline.journal import (
    RESULTS,
    _check_run_json,
    _ranges,
    _run_lock,
    _terminate_torn_line,
    append_result,
    load_results,
)
from lava_nt.examples.eeg.pipeline.parallel import run_units_parallel
from lava_nt.examples.eeg.pipeline.steps import model_path, remove_checkpoints, unit_dir
from lava_nt.examples.eeg.pipeline.units import (
    _Pipeline,
    _progress_bar,
    _torch_threads,
    fold_groups,
    pretrain_key,
)
from lava_nt.examples.eeg.synthetic import SyntheticConfig


@dataclass
class RunSummary:
    run_dir: Path
    units_total: int
    units_run: int
    units_skipped: int
    deployed: int
    seconds: float
    report: dict = field(default_factory=dict)


def run_pipeline(
    run_dir,
    config: PipelineConfig | None = None,
    *,
    data_dir=None,
    synthetic: SyntheticConfig | None = None,
    log: Callable[[str], None] = print,
    report: Callable[..., dict] | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
) -> RunSummary:
    """Run (or continue) a LOSO experiment in ``run_dir`` (and write its report with ``report``).

    Args:
        run_dir: the run directory (created; an existing one is resumed if its settings match).
        config: the settings (:class:`PipelineConfig`; default: thesis settings, honest).
        data_dir: a directory of DEAP ``sNN.dat`` files (real or synthetic); None generates
            synthetic data (``synthetic``, default :class:`SyntheticConfig`) into ``RUN/data``.
        log: where progress messages go.
        report: the report writer, called as ``report(run_dir, log=log)`` at the end, e.g.
            :func:`lava_nt.examples.eeg.report.write_report` (the report reads the pipeline's
            results, so the pipeline does not import it); None or False: no report
            (:func:`lava_nt.examples.eeg.study.run_study` writes it after all its runs).
        workers: run the units on this many Ray workers (:mod:`.parallel`); None: in this
            process, one after the other (no Ray).
        ray_address: join this Ray cluster instead of starting a local instance.

    Returns a :class:`RunSummary` (``report`` holds the written paths).
    """
    t_start = time.perf_counter()
    config = config or PipelineConfig()
    run_dir = _check_arguments(run_dir, data_dir, workers)
    report = _check_report(report)
    run_dir.mkdir(parents=True, exist_ok=True)
    with _run_lock(run_dir), _torch_threads(config.threads):
        recorded = prepare_data(run_dir, data_dir, synthetic, log)
        data = dataclasses.replace(recorded, directory=run_dir / recorded.directory)
        folds, groups = _folds_and_groups(config, data)
        _check_run_json(run_dir, config, recorded)
        _terminate_torn_line(run_dir / RESULTS)
        done_sets = _done_sets(load_results(run_dir))
        if not config.keep_checkpoints:  # finished before a kill could remove them
            _drop_checkpoints(run_dir, done_sets["pretrain"], done_sets["tune"])
        tuned, deployed = done_sets["tune"], done_sets["deploy"]
        units = [(p, m, s) for p in folds for m in config.methods for s in config.seeds]
        _forget_missing_models(run_dir, config, units, done_sets, log)
        todo = [u for u in units if u not in tuned or (config.lava and u not in deployed)]
        _forget_missing_pretrainings(run_dir, todo, groups, done_sets, log)
        log(
            f"EEG LOSO run in {run_dir}: protocol {config.protocol}, {data.source} data "
            f"({len(data.pool)} participants), folds {_ranges(folds)}, methods "
            f"{', '.join(config.methods)}, seeds {list(config.seeds)}: {len(units)} units, "
            f"{len(units) - len(todo)} already finished"
        )
        n_run = n_dep = 0
        if todo:
            log("computing band-power features ...")
            pipe = _Pipeline(run_dir, config, data, log)
            pipe.features = load_features(data, run_dir, config.feature_seed, data.pool)
            bar = _progress_bar(len(units), len(units) - len(todo), config.progress)
            pipe.bar = bar
            drop_in = None if config.keep_checkpoints else run_dir
            sink = _RowSink(done_sets, pipe._write, bar, drop_in)
            try:
                if workers is None and ray_address is None:
                    _run_serial(pipe, run_dir, config, todo, groups, done_sets, sink)
                else:
                    run_units_parallel(
                        run_dir, config, data, todo, groups, done_sets, workers=workers,
                        address=ray_address, write=pipe._write, on_rows=sink,
                    )  # fmt: skip
            finally:
                if bar is not None:
                    bar.close()
            n_run, n_dep = sink.counts["tune"], sink.counts["deploy"]
    summary = RunSummary(
        run_dir=run_dir,
        units_total=len(units),
        units_run=n_run,
        units_skipped=len(units) - len(todo),
        deployed=n_dep,
        seconds=time.perf_counter() - t_start,
    )
    if report is not None:
        summary.report = report(run_dir, log=log)
    return summary


def _check_report(report):
    """The report writer to call, or None (for None or False)."""
    if report is None or report is False:
        return None
    if report is True or not callable(report):
        raise PipelineError(
            "run_pipeline: 'report' is the report writer to call at the end (e.g. "
            f"lava_nt.examples.eeg.report.write_report) or None, got {report!r}"
        )
    return report


def _check_arguments(run_dir, data_dir, workers) -> Path:
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):  # fmt: skip
        raise PipelineError(f"workers must be a positive integer or None, got {workers!r}")
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise PipelineError(f"run directory '{run_dir}' is not a directory")
    if data_dir is not None and not Path(data_dir).exists():
        raise PipelineError(f"data directory '{data_dir}' does not exist")
    return run_dir


def _folds_and_groups(config: PipelineConfig, data) -> tuple[list[int], dict]:
    """The participants to leave out and every participant's fold group, checked against the
    data's pool."""
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
    return folds, groups


def _done_sets(done: list[dict]) -> dict[str, set]:
    """What the journal rows ``done`` record as finished: ``{"pretrain": {(key, arch)},
    "tune": {(participant, method, seed)}, "deploy": {...}}``."""
    unit = ("participant", "method", "seed")
    return {
        "pretrain": {(r["key"], r["arch"]) for r in done if r["kind"] == "pretrain"},
        "tune": {tuple(r[k] for k in unit) for r in done if r["kind"] == "tune"},
        "deploy": {tuple(r[k] for k in unit) for r in done if r["kind"] == "deploy"},
    }


def _forget_missing_models(run_dir: Path, config, units, done_sets, log) -> None:
    """Make a run directory's records alone enough to continue it (with
    :func:`_forget_missing_pretrainings`): a tuned unit the journal records as finished whose
    model file is gone (the directory was copied without its models, or they were deleted) and
    whose deployment is still to do counts as not tuned and is recomputed (deterministic given
    the seed: the same network again; the journal keeps its first row). A finished unit whose
    deployment is recorded needs nothing and stays done."""
    tuned, deployed = done_sets["tune"], done_sets["deploy"]
    gone = [
        u for u in units
        if u in tuned and config.lava and u not in deployed
        and METHODS[u[1]].family == "snn" and METHODS[u[1]].tuning is not None
        and not model_path(unit_dir(run_dir, *u)).exists()
    ]  # fmt: skip
    tuned.difference_update(gone)
    if gone:
        log(
            f"{len(gone)} tuned unit(s) are recorded as finished but their model files are "
            "missing: tuning them again (deterministic given the seed)"
        )


def _forget_missing_pretrainings(run_dir: Path, todo, groups, done_sets, log) -> None:
    """A pretraining the journal records as finished whose model file is gone counts as not
    done when a spiking unit still to do (``todo``) needs it, and is recomputed."""
    needed = {
        (pretrain_key(groups[p]), METHODS[m].arch) for p, m, _ in todo if METHODS[m].family == "snn"
    }
    lost = [
        pre for pre in sorted(needed & done_sets["pretrain"])
        if not model_path(run_dir / "pretrained" / pre[0] / pre[1]).exists()
    ]  # fmt: skip
    done_sets["pretrain"].difference_update(lost)
    if lost:
        log(
            f"{len(lost)} pretraining(s) are recorded as finished but their model files are "
            "missing: pretraining them again (deterministic given the seed)"
        )


def _drop_checkpoints(run_dir: Path, pretrained, tuned) -> None:
    """Remove the trainer checkpoints of the finished pretrainings ``(key, arch)`` and tuning
    units ``(participant, method, seed)``, whose model files are written and whose results rows
    are recorded (:func:`~.steps.remove_checkpoints`)."""
    for key, arch in pretrained:
        remove_checkpoints(run_dir / "pretrained" / key / arch)
    for p, m, s in tuned:
        remove_checkpoints(unit_dir(run_dir, p, m, s))


class _RowSink:
    """Takes the journal rows of finished work (in this process or from Ray workers), each
    already appended to ``results.jsonl``: marks them done, counts tuned and deployed units,
    prints a line each and advances the bar. With ``drop_in`` (the run directory) it removes the
    trainer checkpoints of every pretraining and unit whose row it takes."""

    def __init__(
        self, done_sets: dict[str, set], write: Callable[[str], None], bar,
        drop_in: Path | None = None,
    ) -> None:  # fmt: skip
        self.done_sets = done_sets
        self.write = write
        self.bar = bar
        self.drop_in = drop_in
        self.counts = {"tune": 0, "deploy": 0}

    def __call__(self, rows: list[dict]) -> None:
        for row in rows:
            kind = row["kind"]
            if kind == "pretrain":
                self.done_sets[kind].add((row["key"], row["arch"]))
                if self.drop_in is not None:
                    _drop_checkpoints(self.drop_in, [(row["key"], row["arch"])], [])
                continue
            unit = (row["participant"], row["method"], row["seed"])
            self.done_sets[kind].add(unit)
            if kind == "tune" and self.drop_in is not None:
                _drop_checkpoints(self.drop_in, [], [unit])
            self.counts[kind] += 1
            self.write(_unit_line(row) if kind == "tune" else "    " + _deploy_line(row))
        last = rows[-1] if rows else None
        if self.bar is not None and last is not None and last["kind"] != "pretrain":
            self.bar.update(1)


def _run_serial(pipe, run_dir: Path, config, todo, groups, done_sets, sink: _RowSink) -> None:
    """The units ``todo`` one after the other in this process, each row journalled as soon as
    it is computed (pretraining first where a fold group has none yet)."""
    pretrained, tuned, deployed = done_sets["pretrain"], done_sets["tune"], done_sets["deploy"]
    for u in todo:
        p, m, s = u
        if pipe.bar is not None:
            pipe.bar.set_postfix_str(f"p{p:02d} {m} seed {s}")
        pre = (pretrain_key(groups[p]), METHODS[m].arch)
        if pre not in pretrained:
            row = pipe.pretrain(groups[p], pre[1])
            append_result(run_dir, row)
            sink([row])
        rows = []
        if u not in tuned:
            rows.append(pipe.run_unit(p, m, s, groups[p]))
            append_result(run_dir, rows[-1])
        if config.lava and u not in deployed:
            rows.append(pipe.deploy_unit(p, m, s, groups[p]))
            append_result(run_dir, rows[-1])
        sink(rows)


def _unit_line(row: dict) -> str:
    acc = row["test_acc"]
    return (
        f"participant {row['participant']:2d} {row['method']:20s} seed {row['seed']}: test "
        "accuracy " + ("n/a" if acc is None else f"{acc:.3f}")
        + f" ({row['n_trainable']:,} trainable, {row['epochs_run']} epochs,"
        f" {row['seconds']:.0f} s)"
    )  # fmt: skip


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
    s += f" on {row.get('n_samples')} test samples"
    if row.get("deploy_engine") == "reference":  # accuracies from torch float64 / the emulator
        s = s.replace(" (torch", " (reference mode; torch").replace(", spike match n/a", "")
        n = row.get("lava_check_samples", 0)
        checks = [row.get(k) for k in ("lava_check_float_match", "lava_check_fixed_match")]
        if n:
            s += f"; Lava checked on {n}: spike match " + "/".join(
                pct(v) for v in checks if v is not None
            )
    return s
