"""The ``lava-nt`` command line.

Subcommands (each imports torch/Lava only when it runs):

    lava-nt smoke        end-to-end check of the engines on a random network: numpy reference,
                         Norse/torch (float64), Lava float, torch fixed-point emulator, Lava fixed

and the groups of :data:`COMMAND_MODULES`. Every command ends the same way on Ctrl-C (exit status
130, one line ``lava-nt <command>: interrupted`` on stderr; Lava runs clean up their processes)
and on an operating-system error such as a read-only or full disk (exit status 1, one line).
"""

from __future__ import annotations

import argparse
import sys

from lava_nt import __version__


def _random_specs(seed: int, n_in: int = 40, sizes=(30, 20), samples: int = 20, T: int = 25):
    """A random float network with gains, biases and spiking biases (per-neuron, then
    volumetric; reset to zero, then subtract), a random fixed-point one of the same shape, and
    input spikes (:mod:`lava_nt.testing`)."""
    from lava_nt.testing import random_input, random_spec

    shape = dict(sizes=(n_in, *sizes), spiking_bias=("per_neuron", "volumetric"),
                 resets=("zero", "subtract"))  # fmt: skip
    spec = random_spec(seed, **shape)
    fspec = random_spec(seed + 1, fixed=True, **shape)
    return spec, fspec, random_input(seed + 2, T, samples, n_in)


def cmd_smoke(args) -> int:
    from lava_nt.commands.deploy import lava_failure
    from lava_nt.lava.run import LavaError

    try:
        return _smoke(args)
    except LavaError as exc:
        print(f"lava-nt smoke: error: {lava_failure(exc, timeout_option=False)}", file=sys.stderr)
        return 1


def _smoke(args) -> int:
    import numpy as np
    import torch

    from lava_nt.converters.lava_graph import run_networks
    from lava_nt.network import run_reference
    from lava_nt.nn.fixed_emulator import run_fixed
    from lava_nt.nn.network import NTNetwork

    spec, fspec, x = _random_specs(args.seed, samples=args.samples)
    print(
        f"lava-nt {__version__} smoke run: network {spec.sizes}, {args.samples} samples x 25 steps"
    )
    ref = run_reference(spec, x).output
    net = NTNetwork.from_spec(spec, dtype=torch.float64)
    with torch.no_grad():
        torch_s = net.run(torch.as_tensor(x)).output.numpy()
    # the float and fixed-point networks side by side in one Lava runtime
    lava_s, lava_f = (r.output for r in run_networks([(spec, "float"), (fspec, "fixed")], x))
    fref = run_reference(fspec, x).output
    emu = run_fixed(fspec, torch.as_tensor(x)).output.numpy()
    rows = [
        ("torch float64 vs numpy reference", torch_s, ref),
        ("Lava float vs torch float64", lava_s, torch_s),
        ("torch fixed emulator vs numpy fixed reference", emu, fref),
        ("Lava fixed vs torch fixed emulator", lava_f, emu),
    ]
    ok = True
    for name, a, b in rows:
        match = float(np.mean(np.asarray(a) == np.asarray(b)))
        ok &= match == 1.0
        print(f"  {name:48s} spike match {100 * match:7.3f}%  ({int(np.sum(a))} spikes)")
    print("smoke: OK" if ok else "smoke: MISMATCH")
    return 0 if ok else 1


# Subcommand groups living in their own modules: each defines ``register(subparsers)``.
# A module that is missing (an optional feature not installed) is skipped.
COMMAND_MODULES = (
    "lava_nt.commands.deploy",
    "lava_nt.commands.eeg",
    "lava_nt.commands.report",
    "lava_nt.commands.interop",
    "lava_nt.commands.images",
    "lava_nt.commands.train",
    "lava_nt.commands.tune",
    "lava_nt.commands.evaluate",
    "lava_nt.commands.ondevice",
    "lava_nt.commands.abstracted",
)


def build_parser() -> argparse.ArgumentParser:
    from lava_nt.commands.arguments import nonnegative_int, positive_int

    parser = argparse.ArgumentParser(
        prog="lava-nt",
        description="Neuromodulatory tuning of spiking neural networks: train with Norse, "
        "deploy on Lava (float or Loihi fixed point).",
    )
    parser.add_argument("--version", action="version", version=f"lava-nt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("smoke", help="end-to-end engine agreement check on a random network")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--samples", type=positive_int, default=20)
    p.set_defaults(func=cmd_smoke)
    import importlib

    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``lava-nt`` command; returns its exit status (130 after Ctrl-C)."""
    # (Norse's torch.jit.script FutureWarning is silenced where Norse is imported, not here)
    name = "lava-nt"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        name = f"lava-nt {args.command}"
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a read-only directory, a full disk, ... met outside the checks
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
