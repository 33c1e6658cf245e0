"""``lava-nt eeg run``: run (or resume) a leave-one-subject-out study and summarise it."""

from __future__ import annotations

import sys
import time

from lava_nt.commands.arguments import reproducing_argv
from lava_nt.commands.eeg.config import build_config, ints
from lava_nt.commands.eeg.errors import env_error, fail, user_errors
from lava_nt.commands.eeg.summary import print_summary


def cmd_run(args) -> int:
    t0 = time.perf_counter()
    from lava_nt.examples.eeg.study import run_study
    from lava_nt.records import commands, git_commit, record_command

    code = git_commit()  # the code this command runs (recorded when it completes)
    try:
        config, synthetic, run_dir = build_config(args)
        pseeds = ints(args.pretrain_seeds) or [config.pretrain_seed]
    except (TypeError, ValueError) as exc:  # bad settings (PipelineError, SyntheticConfig)
        return fail("run", exc)
    if config.fused:
        # this command is the whole process: let glibc keep freed training buffers instead of
        # mapping and zero-filling them again every step (+20-30 % for the fused path,
        # BENCHMARKS.md); results are unchanged
        from lava_nt.nn.fused import keep_freed_memory

        keep_freed_memory()
    try:
        summaries = run_study(
            run_dir, config, pseeds, data_dir=args.data, synthetic=synthetic,
            workers=args.workers, ray_address=args.ray_address,
        )  # fmt: skip
        # a command is recorded when it made numbers (or none is recorded yet: an earlier,
        # killed run of it finished the work), so a rerun that finds everything done adds
        # nothing to the provenance the docs captions show
        if any(s.units_run or s.deployed for s in summaries) or not commands(run_dir):
            record_command(run_dir, reproducing_argv(args, ["eeg", "run"]), code=code)
    except user_errors() as exc:
        return fail("run", exc)
    except OSError as exc:
        if not env_error(exc):
            raise
        return fail("run", exc)
    except KeyboardInterrupt:
        print(
            "\ninterrupted; run the same command again to continue where it stopped",
            file=sys.stderr,
        )
        return 130
    wall = time.perf_counter() - t0
    rep = summaries[0].report
    print_summary(run_dir)
    print(
        f"\nfinished in {wall:.0f} s: {sum(s.units_run for s in summaries)} units run, "
        f"{sum(s.units_skipped for s in summaries)} already done, "
        f"{sum(s.deployed for s in summaries)} deployed on Lava"
        + (f" ({len(summaries)} pretraining seeds)" if len(summaries) > 1 else "")
    )
    if rep:
        print(f"results table: {rep.get('markdown')}  (CSV: {rep.get('csv')})")
        figs = [str(rep[k]) for k in ("accuracy_bars", "bias_current", "output_raster") if k in rep]
        if figs:
            print("plots: " + ", ".join(figs))
    return 0
