"""``lava-nt eeg sweep``: the synthetic generator's knobs against a logistic-regression proxy."""

from __future__ import annotations

from lava_nt.commands.arguments import reproducing_argv
from lava_nt.commands.eeg.errors import check_docs, env_error, fail, user_errors


def cmd_sweep(args) -> int:
    check_docs(args)
    from lava_nt.examples.eeg.sweep import report_sweep, run_sweep

    try:
        if args.report is not None:
            given = [a for a in reproducing_argv(args, []) if a.startswith("--")]
            extra = [a for a in given if a not in ("--report", "--docs", "--docs-name")]
            if extra:
                msg = f"--report runs nothing: {', '.join(extra)} set(s) what a sweep runs"
                return fail("sweep", ValueError(msg))
            report_sweep(args.report, args.docs, args.docs_name)
        else:
            run_sweep(args, reproducing_argv(args, ["eeg", "sweep"]))
    except user_errors() as exc:
        return fail("sweep", exc)
    except OSError as exc:
        if not env_error(exc):
            raise
        return fail("sweep", exc)
    return 0
