"""``lava-nt eeg generate``: synthetic participants in the DEAP file format."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from lava_nt.commands.eeg.errors import env_error, fail, user_errors

#: ``eeg generate`` writes more than this many bytes only with --yes (the defaults write 3.3 GB)
GENERATE_CONFIRM_BYTES = 10**9


def cmd_generate(args) -> int:
    from lava_nt.examples.eeg.synthetic import SyntheticConfig, data_bytes, generate_deap

    try:
        cfg = SyntheticConfig(
            n_participants=args.participants,
            n_trials=args.trials,
            n_samples=args.samples,
            seed=args.seed,
        )
    except (TypeError, ValueError) as exc:
        return fail("generate", exc)
    size = data_bytes(cfg)
    what = (
        f"{size / 1e9:.1f} GB ({cfg.n_participants} participants x {cfg.n_trials} trials x 40 "
        f"channels x {cfg.n_samples} samples, float64) to {Path(args.out)}"
    )
    if size > GENERATE_CONFIRM_BYTES and not getattr(args, "yes", False):
        print(
            f"lava-nt eeg generate: error: would write {what}; pass --yes to write it, or ask "
            "for less (--participants, --trials, --samples)",
            file=sys.stderr,
        )
        return 1
    print(f"writing {what} ...", flush=True)
    t0 = time.perf_counter()
    try:
        paths = generate_deap(args.out, cfg)
    except user_errors() as exc:
        return fail("generate", exc)
    except OSError as exc:
        if not env_error(exc):
            raise
        return fail("generate", exc)
    print(
        f"wrote {len(paths)} synthetic DEAP participants ({cfg.n_trials} trials x 40 channels x "
        f"{cfg.n_samples} samples) to {Path(args.out)} in {time.perf_counter() - t0:.1f} s"
    )
    return 0
