"""``lava-nt eeg report``: (re)write the tables, statistics and plots of a run directory."""

from __future__ import annotations

from lava_nt.commands.eeg.errors import check_docs, fail, user_errors


def cmd_report(args) -> int:
    check_docs(args)
    try:
        from lava_nt.docs_blocks import update_docs
        from lava_nt.examples.eeg.report import write_report
        from lava_nt.examples.eeg.report.docs import run_block

        paths = write_report(args.run_dir, plots=not args.no_plots)
        against = getattr(args, "against", None)
        if against is not None:
            from lava_nt.examples.eeg.report.compare import comparison_block, comparison_lines

            print("\n".join(comparison_lines(args.run_dir, against)))
        if args.docs:
            if against is not None:
                body = comparison_block(args.run_dir, against, args.docs_name, args.docs)
            else:
                body = run_block(args.run_dir, args.docs_name, args.docs, part=args.docs_part)
            where = update_docs(args.docs, args.docs_name, body)
            print(f"docs block '{args.docs_name}' written to {where}")
    except user_errors() as exc:
        return fail("report", exc)
    print(f"results table: {paths['markdown']}")
    return 0
