"""The documentation block of an EEG run directory (:func:`run_block`).

``lava-nt eeg report RUN --docs docs/eeg.md --docs-name NAME`` replaces the block ``NAME``
(:mod:`lava_nt.docs_blocks`) with it (``lava-nt eeg sweep ... --docs`` with its own table). The
block opens with a caption naming the command that made the numbers, the git commit of the code
that ran it and the command that rewrites the block; a run without a recorded command is refused,
so every number in a block can be regenerated.
"""

from __future__ import annotations

from pathlib import Path

from lava_nt.docs_blocks import caption
from lava_nt.examples.eeg.pipeline import PipelineError, config_from_info, load_run_info
from lava_nt.examples.eeg.report import accuracy_table
from lava_nt.examples.eeg.report.statistics import (
    claims_markdown,
    statistics_markdown,
    study_statistics,
)
from lava_nt.examples.eeg.report.tables import (
    _deploy_markdown,
    _header_lines,
    cost_table,
    participant_table,
)
from lava_nt.examples.eeg.runs import study_rows
from lava_nt.records import commands

__all__ = ["PARTS", "run_block"]

PARTS = ("all", "deployment", "claims")
TABLE_MAX_PARTICIPANTS = 32  # a per-participant table up to DEAP's size


def run_block(
    run_dir, name: str, docs_path, shown_run_dir: str | None = None, part: str = "all"
) -> str:
    """The generated block of a run directory: caption, settings, the per-participant table
    (up to DEAP's 32 participants, as the thesis' Table 2), the statistics, the Lava deployment
    and the wall times; with ``part="deployment"`` only the caption, the settings and the
    deployment (fixed point, QAT and the pooled fixed-minus-float differences); with
    ``part="claims"`` only the caption, the folds and seeds, and the verdict on each of the
    thesis' claims (short enough for a README)."""
    if part not in PARTS:
        raise PipelineError(f"docs part must be one of {', '.join(PARTS)}, got {part!r}")
    run_dir = Path(run_dir)
    made_by = commands(run_dir)
    if not made_by:
        raise PipelineError(
            f"{run_dir} has no recorded command (commands.jsonl): only runs made by "
            "`lava-nt eeg run` can be written into the documentation"
        )
    shown = shown_run_dir or str(run_dir)
    info = load_run_info(run_dir)
    rows = study_rows(run_dir)
    table = accuracy_table(rows)
    regen = f"lava-nt eeg report {shown} --docs {docs_path} --docs-name {name}"
    if part != "all":
        regen += f" --docs-part {part}"
    lines = caption(made_by, regen)
    cfg = config_from_info(info)
    header = [f"- {h}" for h in _header_lines(info, rows) if not h.startswith("data:")]
    if part == "claims":
        st = study_statistics(rows, table["methods"])
        if not st.verdicts:
            raise PipelineError(f"{run_dir} has no units of the methods the thesis' claims compare")
        folds = [h for h in header if h.startswith("- folds")]
        return "\n".join(lines + folds + ["", *claims_markdown(st, level=3), ""])
    lines += header
    lines += [f"- data: {info['data']['source']}, participant pool of {len(info['data']['pool'])}"]
    lines.append("")
    deploy = [r for r in rows if r["kind"] == "deploy" and r.get("deployable") is not False]
    if part == "deployment":
        if not deploy:
            raise PipelineError(f"{run_dir} has no Lava deployment rows (a --no-lava run)")
        return "\n".join(lines + ["Deployment on Lava (CPU simulator):", "",
                                   *_deploy_markdown(deploy), ""])  # fmt: skip
    if len(table["participants"]) <= TABLE_MAX_PARTICIPANTS:
        lines += ["Test accuracy per left-out participant (mean ± sd over units):", ""]
        lines += participant_table(table) + [""]
    st = study_statistics(rows, table["methods"])
    lines += statistics_markdown(st, rows, level=4)
    if deploy:
        lines += ["Deployment on Lava (CPU simulator):", "", *_deploy_markdown(deploy), ""]
    cost = cost_table(rows)
    if cost:
        lines += [f"Wall time ({cfg.threads} torch thread(s) per unit):", "", *cost, ""]
    return "\n".join(lines)
