"""Tables, statistics and plots of a LOSO run (:mod:`lava_nt.examples.eeg.pipeline`), like the
thesis' Tables 2/5/6 and Figures 3/7, plus the intervals and tests a reviewer needs.

:func:`write_report` reads ``RUN/run.json`` and the results of the run and of its nested
pretraining-seed runs (:func:`lava_nt.examples.eeg.runs.study_rows`) and writes into
``RUN/report/``:

* ``results.md``: header (protocol, data, settings), per-participant accuracy table (mean ± sd
  over units), the statistics (:mod:`.statistics`: per-method intervals over participants,
  trial-level bootstrap, paired differences with Wilcoxon and permutation tests, the verdict on
  each of the thesis' claims), trainable parameters, Lava deployment, pretraining, wall times,
  figures and model files;
* ``results.csv`` (per participant), ``results_long.csv`` (one line per unit), ``statistics.csv``,
  ``parameters.csv``, ``deploy.csv``;
* ``accuracy_bars.png`` (thesis Figure 7), ``bias_current.png`` (Figure 3), ``output_raster.png``
  (:mod:`.plots`).

:mod:`.docs` writes a run's tables into the documentation with the command and commit that made
them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from lava_nt.examples.eeg.pipeline import config_from_info, load_results, load_run_info
from lava_nt.examples.eeg.report.plots import (
    plot_accuracy_bars,
    plot_bias_current_figure,
    plot_output_raster,
)
from lava_nt.examples.eeg.report.statistics import (
    statistics_csv,
    statistics_markdown,
    study_statistics,
)
from lava_nt.examples.eeg.report.tables import (
    REPORT_DIR,
    _atomic_write_text,
    _deploy_csv,
    _long_csv,
    _markdown,
    _params_csv,
    _results_csv,
    accuracy_table,
)
from lava_nt.examples.eeg.runs import study_rows

__all__ = ["REPORT_DIR", "accuracy_table", "write_report"]


def _csv(rows: list[list]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def write_report(run_dir, log: Callable[[str], None] = print, plots: bool = True) -> dict:
    """Write the tables, statistics and plots of ``run_dir`` into ``run_dir/report``; returns the
    paths."""
    run_dir = Path(run_dir)
    info = load_run_info(run_dir)
    rows = study_rows(run_dir)
    own = load_results(run_dir)  # units of this directory (plots load their model files)
    out = run_dir / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    table = accuracy_table(rows)
    deploy_rows = [r for r in rows if r["kind"] == "deploy" and r.get("deployable") is not False]
    pre_rows = [r for r in rows if r["kind"] == "pretrain"]
    st = study_statistics(rows, table["methods"])
    paths = {}
    paths["markdown"] = out / "results.md"
    _atomic_write_text(
        paths["markdown"],
        _markdown(info, rows, table, deploy_rows, pre_rows, run_dir, statistics_markdown(st, rows)),
    )
    paths["csv"] = out / "results.csv"
    _atomic_write_text(paths["csv"], _results_csv(info, rows, table))
    paths["long_csv"] = out / "results_long.csv"
    _atomic_write_text(paths["long_csv"], _long_csv(info, rows))
    paths["statistics"] = out / "statistics.csv"
    _atomic_write_text(paths["statistics"], _csv(statistics_csv(st)))
    paths["parameters"] = out / "parameters.csv"
    _atomic_write_text(paths["parameters"], _params_csv(rows))
    if deploy_rows:
        paths["deploy"] = out / "deploy.csv"
        _atomic_write_text(paths["deploy"], _deploy_csv(info, rows, deploy_rows))
    if plots and table["methods"]:
        cfg = config_from_info(info)
        paths["accuracy_bars"] = plot_accuracy_bars(table, cfg.protocol, out / "accuracy_bars.png")
        for name, fn in (
            ("bias_current", plot_bias_current_figure),
            ("output_raster", plot_output_raster),
        ):
            try:
                p = fn(run_dir, own, out / f"{name}.png")
            except Exception as exc:  # noqa: BLE001 - a plot must not lose the tables
                log(f"warning: {name}.png not written ({type(exc).__name__}: {exc})")
                p = None
            if p is not None:
                paths[name] = p
    log(f"report written to {out}:")
    for k, p in paths.items():
        log(f"  {k:14s} {p}")
    return paths
