"""Run the lava-nt benchmarks and write the results file (atomically).

    .venv/bin/python benchmarks/run_all.py [--quick] [--only training,tuning,...] [--out FILE]

Each benchmark runs in its own subprocess (a fresh interpreter: torch.compile state, thread pools
and Lava's forked workers never leak from one benchmark into the next) with a timeout. A benchmark
that fails is reported in the file with its error instead of a table.

Every finished section is also stored as JSON in ``benchmarks/results/<mode>/<name>.json`` (with
its own date, git commit and load), and the results file is rendered from all stored sections of
that mode. So ``--only lava`` re-measures one section and keeps the others' last results; each
section header says when and at which commit it was measured.

* full version (default): ``benchmarks/results/full/``, written to ``BENCHMARKS.md`` (the file in
  the repository);
* ``--quick`` (what ``make bench`` runs, under 10 minutes, no compiled variants, reduced sizes):
  ``benchmarks/results/quick/``, written to ``BENCHMARKS-quick.md`` (not committed), so a quick run
  never overwrites the recorded full results.

On a machine shared with other sessions, run it with a raised priority for the session (Linux
autogroups make a plain ``nice`` ineffective against other sessions); the header records it::

    setsid bash -c 'echo -15 > /proc/self/autogroup; exec nice -n -15 \
        .venv/bin/python benchmarks/run_all.py'
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

HERE = Path(__file__).resolve().parent
BENCHES = {
    "training": ("bench_training.py", 1800, 5400),  # script, quick timeout, full timeout (s)
    "lava": ("bench_lava.py", 1200, 3600),
    "fidelity": ("bench_fidelity.py", 900, 3600),
    "personalise": ("bench_personalise.py", 900, 3600),
    "end_to_end": ("bench_end_to_end.py", 900, 5400),
    "tuning": ("bench_tuning.py", 900, 2400),
    "scaling": ("bench_scaling.py", 1200, 3600),
    "sparse_grad": ("bench_sparse_grad.py", 900, 2400),
}
RESULTS = HERE / "results"


def _stored(mode: str) -> dict[str, dict]:
    """The stored sections of a mode (``full`` / ``quick``), by benchmark name."""
    out = {}
    for name in BENCHES:
        path = RESULTS / mode / f"{name}.json"
        if path.exists():
            try:
                out[name] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                common.log(f"ignoring unreadable stored section {path}: {exc}")
    return out


def _run_one(name: str, quick: bool) -> dict:
    script, t_quick, t_full = BENCHES[name]
    fd, out = tempfile.mkstemp(prefix=f"bench_{name}_", suffix=".json")
    os.close(fd)
    cmd = [sys.executable, str(HERE / script), "--json", out] + (["--quick"] if quick else [])
    common.log(f"== {name}: {' '.join(cmd[1:])}")
    t0 = time.perf_counter()
    load0 = common.load_average()
    try:
        proc = subprocess.run(
            cmd,
            cwd=common.ROOT,
            timeout=t_quick if quick else t_full,
            stdout=subprocess.PIPE,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"exit status {proc.returncode}")
        with open(out, encoding="utf-8") as fh:
            section = json.load(fh)
    except Exception as exc:  # noqa: BLE001 - a failed benchmark is reported, not fatal
        section = {
            "title": f"{name} (FAILED)",
            "setup": [f"`{' '.join(cmd[1:])}` failed: {exc!r}; see its stderr."],
            "figures": [],
        }
    finally:
        if os.path.exists(out):
            os.unlink(out)
    section["seconds"] = time.perf_counter() - t0
    section["load"] = (load0, common.load_average())
    section["measured"] = f"{common.now()}, git {common.git_commit()}, {common.scheduling()}"
    common.log(f"== {name} done in {section['seconds']:.0f} s")
    return section


def render(sections: list[dict], quick: bool, argv: list[str], seconds: float) -> str:
    peak = common.peak_flops()
    ver = common.versions()
    lines = [
        "# lava-nt benchmarks",
        "",
        "Written by `benchmarks/run_all.py` (do not edit by hand). Every timing figure is a RATIO "
        "against a baseline measured side by side in the same run: the median over interleaved "
        "rounds of the per-round ratio, with the raw medians next to it. The machine is a shared "
        "2-core VM, so absolute times drift with the load; the paired ratios are what to compare.",
        "",
        f"- Command: `{' '.join(argv)}`" + (" (quick version)" if quick else " (full version)"),
        f"- Written: {common.now()}; sections re-measured by this run: {seconds / 60:.1f} min; "
        f"git {common.git_commit()} (each section below says when and at which commit it was "
        "measured)",
        f"- Machine: {peak['model']}, {peak['cores']} cores at {peak['mhz']:.0f} MHz, "
        f"{peak['width']}; load average at the end {common.load_average()}; scheduling "
        f"priority of the benchmarks: {common.scheduling()}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in ver.items()),
        "- Load average (1/5/15 min) at the start and end of each section: "
        + "; ".join(
            f"{s['title']}: {s['load'][0]} -> {s['load'][1]}" for s in sections if "load" in s
        ),
        "",
    ]
    busy = [s["title"] for s in sections if "load" in s and _busy(s["load"], peak["cores"])]
    if busy:
        lines += [
            f"**Warning: other processes loaded the machine during {', '.join(busy)} (1-minute "
            f"load average above the {peak['cores']} cores).** With torch using 2 threads, a busy "
            "core stalls every parallel kernel, so absolute times are inflated and the ratios "
            "are noisier than usual.",
            "",
        ]
    summary = []
    for s in sections:
        for f in s["figures"]:
            if f.get("met") is not None:
                summary.append(
                    f"| {s['title']} | {f['name']} | "
                    + (f"{f['ratio']:.3g}{f.get('unit', 'x')}" if f["ratio"] is not None else "n/a")
                    + f" | {f['target']} | {f.get('result') or ('met' if f['met'] else 'MISSED')} |"
                )
    if summary:
        lines += [
            "## Targets",
            "",
            "| section | figure | value | target | result |",
            "|---|---|---|---|---|",
            *summary,
            "",
        ]
    for s in sections:
        text = common.format_section(s)
        if s.get("measured"):
            head, _, rest = text.partition("\n")
            text = f"{head}\n\n_Measured {s['measured']}._\n{rest}"
        lines.append(text)
    return "\n".join(lines)


def _busy(load: tuple[str, str], cores: int) -> bool:
    try:
        return max(float(x.split()[0]) for x in load) > cores
    except (ValueError, IndexError):
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short version (make bench)")
    ap.add_argument("--only", help="comma-separated subset of: " + ", ".join(BENCHES))
    ap.add_argument(
        "--out", help="results file (default BENCHMARKS.md, quick: BENCHMARKS-quick.md)"
    )
    args = ap.parse_args()
    mode = "quick" if args.quick else "full"
    out_file = args.out or str(
        common.ROOT / ("BENCHMARKS-quick.md" if args.quick else "BENCHMARKS.md")
    )
    names = list(BENCHES) if not args.only else [n.strip() for n in args.only.split(",")]
    for n in names:
        if n not in BENCHES:
            ap.error(f"unknown benchmark {n!r}; choose from {', '.join(BENCHES)}")
    t0 = time.perf_counter()
    stored = _stored(mode)
    for n in names:
        section = _run_one(n, args.quick)
        stored[n] = section
        if not section["title"].endswith("(FAILED)"):
            common.atomic_write(RESULTS / mode / f"{n}.json", json.dumps(section, indent=1))
    sections = [stored[n] for n in BENCHES if n in stored]
    argv = [".venv/bin/python", "benchmarks/run_all.py", *sys.argv[1:]]
    text = render(sections, args.quick, argv, time.perf_counter() - t0)
    common.atomic_write(out_file, text)
    print(text)
    common.log(f"wrote {out_file}")


if __name__ == "__main__":
    main()
