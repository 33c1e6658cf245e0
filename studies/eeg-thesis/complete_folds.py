"""Copy this study's records (run.json, results.jsonl, commands.jsonl) into a run directory,
keeping only the folds whose every unit is tuned and deployed (and their pretrainings); the
nested pretraining-seed runs (pretrain-seed-S/) the same way.

lava-nt resumes from the records alone (a missing model file is recomputed where work still
needs it); the code this run was recorded with (see commands.jsonl) predates that, so a
continuation at that commit needs whole folds:

    .venv/bin/python studies/eeg-thesis/complete_folds.py studies/eeg-thesis runs/eeg-thesis
"""

import json
import shutil
import sys
from pathlib import Path

from lava_nt.examples.eeg.pipeline import load_results


def main(src: str, dst: str) -> None:
    src_dir, dst_dir = Path(src), Path(dst)
    complete = set(copy_run(src_dir, dst_dir))
    first = next((p for p in range(1, 33, 2) if not {p, p + 1} <= complete), None)
    if first is not None:
        print(f"continue with: FIRST={first} studies/eeg-thesis/run.sh {dst_dir} LAVA_NT")
    for nested in sorted(src_dir.glob("pretrain-seed-*")):
        if (nested / "run.json").is_file():  # a subset of the folds (README.md): rerun to go on
            copy_run(nested, dst_dir / nested.name, keep_empty=False)


def copy_run(src_dir: Path, dst_dir: Path, keep_empty: bool = True) -> list[int]:
    """Copy the records of ``src_dir``'s complete folds to ``dst_dir``; returns those folds.
    Without ``keep_empty``, a run with no complete fold (a nested run under way) is not copied."""
    if (dst_dir / "results.jsonl").exists():
        sys.exit(f"{dst_dir} already holds results.jsonl; use an empty directory")
    info = json.loads((src_dir / "run.json").read_text())
    methods, seeds = info["requested"]["methods"], info["requested"]["seeds"]
    rows = load_results(src_dir)  # the journal as the pipeline reads it (torn lines skipped)
    done = {
        (r["kind"], r["participant"], r["method"], r["seed"])
        for r in rows
        if r.get("kind") in ("tune", "deploy")
    }
    folds = {r["participant"] for r in rows if r.get("kind") == "tune"}
    complete = sorted(
        p
        for p in folds
        if all((k, p, m, s) in done for k in ("tune", "deploy") for m in methods for s in seeds)
    )
    keep = [
        r
        for r in rows
        if (
            r.get("participant") in complete
            if r.get("kind") != "pretrain"
            else all(p in complete for p in r["left_out"])
        )
    ]
    if not complete and not keep_empty:
        print(f"no complete fold in {src_dir}: not copied")
        return complete
    dst_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(src_dir / "run.json", dst_dir / "run.json")
    if (src_dir / "commands.jsonl").exists():
        shutil.copy(src_dir / "commands.jsonl", dst_dir / "commands.jsonl")
    (dst_dir / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in keep))
    print(f"complete folds {complete}: {len(keep)} of {len(rows)} rows -> {dst_dir}")
    return complete


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
