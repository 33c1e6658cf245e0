"""What ``lava-nt train`` and ``lava-nt tune`` share: labelled data for the trainer, the
trainer's options, and the run directory.

The run directory (``--run-dir``, default ``OUT`` with the suffix ``.run``) holds ``run.json``
(the run's identity: command, every setting that changes the result, and the SHA-256 of each
input file), the trainer's ``checkpoint.pt``, ``metrics.jsonl`` (one line per epoch) and
``best.pt``. The output model file records the identity's hash in its provenance
(``meta["run"]["identity"]``). Hence:

* running the same command again after an interruption resumes from the checkpoint and ends with
  exactly the model an uninterrupted run writes (the trainer's exact resume);
* running it again after it finished prints the result and writes nothing (no retraining);
* a run directory or output file that belongs to other settings or inputs is refused, naming the
  differences, unless ``--overwrite`` is given: it discards the run directory's training state
  (only the files listed above) and replaces the output file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from lava_nt.commands.arguments import check_output, check_output_dir, positive_float, positive_int

#: The run directory's files that ``--overwrite`` removes (nothing else in it is touched).
RUN_FILES = ("run.json", "checkpoint.pt", "metrics.jsonl", "best.pt")


class RunError(Exception):
    """A user-facing error of ``train`` / ``tune`` (printed in one line, exit status 1)."""


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = float("nan")
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def add_trainer_options(p, *, epochs: int, lr: float | None) -> None:
    """The trainer's options (:class:`lava_nt.training.TrainConfig`) and the run's outputs;
    ``lr`` None: the command chooses by the tuning method (1e-2 for NT, 1e-4 for tft)."""
    t = p.add_argument_group("training (lava_nt.training.TrainConfig)")
    t.add_argument("--epochs", type=positive_int, default=epochs, help="default %(default)s")
    lr_help = (
        "Adam, default %(default)g"
        if lr is not None
        else "Adam, default 1e-2 for the NT methods (a few biases or gains need larger steps), "
        "1e-4 for tft"
    )
    t.add_argument("--lr", type=positive_float, default=lr, help=lr_help)
    t.add_argument("--batch-size", type=positive_int, default=32, help="default %(default)s")
    t.add_argument(
        "--T",
        type=positive_int,
        default=None,
        help="steps a static input is held (default: the data file's T, else 25); spike data "
        "[T, N, n_in] brings its own",
    )
    t.add_argument(
        "--spike-l1",
        type=non_negative_float,
        default=1e-3,
        help="L1 penalty on every layer's spike rate (default %(default)g)",
    )
    t.add_argument(
        "--patience",
        type=positive_int,
        default=None,
        help="stop after N epochs without a better selection metric (default: never)",
    )
    t.add_argument(
        "--select",
        choices=("val", "last"),
        default=None,
        help="keep the epoch with the best validation accuracy (default with --val) or the last "
        "epoch (default without)",
    )
    t.add_argument("--seed", type=int, default=0, help="batch order and tuning masks (default 0)")
    a = p.add_argument_group(
        "gradient approximations (abstracted gradients, the thesis' chapter 3: "
        "lava_nt.training.abstracted; sparse gradients: lava_nt.nn.sparse_grad)"
    )
    a.add_argument(
        "--abstract",
        type=layer_block,
        action="append",
        default=None,
        metavar="FIRST-LAST",
        help="abstract the backward pass of layers FIRST..LAST (0-based, inclusive, FIRST >= 1; "
        "e.g. 1-3; repeatable for blocks that do not overlap): the gradient at the block's "
        "output reaches its input through one matrix M, while the block's own parameters "
        "still learn by backpropagation",
    )
    a.add_argument(
        "--abstract-matrix",
        choices=("derived", "identity"),
        default=None,
        help="M: 'derived' (default; least squares on the batch's spike counts, eq. 5) or "
        "'identity' (the block identity [I 0]: the gradient zero-padded or truncated)",
    )
    a.add_argument(
        "--sparse-grad",
        type=positive_float,
        default=None,
        metavar="B_TH",
        help="sparse spiking gradient descent (Perez-Nieves & Goodman 2021): the surrogate "
        "derivative is zero outside |v' - vth| < B_TH * vth (e.g. 0.5); default: dense",
    )
    o = p.add_argument_group("output and run directory")
    o.add_argument("--out", required=True, metavar="MODEL.h5", help="the model file to write")
    o.add_argument(
        "--run-dir",
        metavar="DIR",
        help="checkpoint, metrics and run.json (default: OUT with the suffix .run); the same "
        "command run again resumes there",
    )
    o.add_argument(
        "--overwrite",
        action="store_true",
        help="start over: discard the run directory's checkpoint and metrics and replace OUT",
    )
    o.add_argument(
        "--checkpoint-every",
        type=non_negative_float,
        default=30.0,
        metavar="SECONDS",
        help="write a checkpoint at most every N seconds (0: every epoch; default %(default)g)",
    )
    o.add_argument("--no-progress", action="store_true", help="no progress bar")


def layer_block(text: str) -> tuple[int, int]:
    """``FIRST-LAST`` (or ``N`` for ``N-N``): a block of 0-based layer indices."""
    parts = text.split("-")
    try:
        if len(parts) not in (1, 2):
            raise ValueError
        first, last = int(parts[0]), int(parts[-1])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a layer block is FIRST-LAST (0-based layer indices, e.g. 1-3), got {text!r}"
        ) from None
    return first, last


def file_sha256(path) -> str:
    """SHA-256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Labelled:
    """A labelled data file as the trainer takes it: ``x`` float32 static ``[N, n_in]`` or spikes
    ``[T, N, n_in]``, ``y`` int64 ``[N]``, ``T`` the steps."""

    path: str
    x: object
    y: object
    T: int

    @property
    def n(self) -> int:
        return int(self.y.shape[0])


def load_labelled(
    path, role: str, *, n_in: int, n_classes: int, T: int | None, graded: bool = False
) -> Labelled:
    """Read a data file (:mod:`lava_nt.data`) for training (see :func:`labelled`).

    Raises :class:`lava_nt.data.DataError` (naming the file and the problem)."""
    from lava_nt.data import load_data

    data = load_data(path, T=T, default_T=25, n_in=n_in, n_classes=n_classes)
    return labelled(data, role, graded)


def labelled(data, role: str, graded: bool = False) -> Labelled:
    """A loaded :class:`lava_nt.data.Data` as trainer tensors: labels required, inputs binary
    (a graded static input is refused, naming its first graded value) unless ``graded`` (a
    network built for real-valued input)."""
    import numpy as np
    import torch

    from lava_nt.data import DataError

    if data.y is None:
        raise DataError(data.path, f"has no labels 'y'; the {role} data needs them")
    if data.static and not graded:
        data.spikes()  # raises for graded values
    return Labelled(
        data.path,
        torch.as_tensor(np.ascontiguousarray(data.x), dtype=torch.float32),
        torch.as_tensor(data.y, dtype=torch.int64),
        int(data.T),
    )


def trainer_config(args, *, T: int, n_classes: int, have_val: bool):
    """The :class:`~lava_nt.training.TrainConfig` of the command's options."""
    from lava_nt.training import TrainConfig

    select = args.select or ("val" if have_val else "last")
    if select == "val" and not have_val:
        raise RunError("--select val needs validation data (--val D.npz); or use --select last")
    if args.patience is not None and select == "last":
        raise RunError(
            "--patience needs a selection metric: give validation data (--val) and --select val"
        )
    if args.abstract_matrix is not None and not args.abstract:
        raise RunError("--abstract-matrix needs --abstract FIRST-LAST (the block to abstract)")
    return TrainConfig(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        T=T,
        n_classes=n_classes,
        spike_l1=args.spike_l1,
        select=select,
        patience=args.patience,
        seed=args.seed,
        progress=not args.no_progress,
        checkpoint_every_s=args.checkpoint_every,
        abstract=tuple(args.abstract or ()),
        abstract_matrix=args.abstract_matrix or "derived",
        sparse_grad=args.sparse_grad,
    )


def trainer_identity(cfg) -> dict:
    """The trainer settings that identify a run (``run.json``, the model's provenance): the
    :class:`~lava_nt.training.TrainConfig` without ``progress`` and ``checkpoint_every_s``, and
    without later fields at their default (so older run directories stay resumable)."""
    from dataclasses import asdict

    from lava_nt.training.config import comparable

    return comparable(asdict(cfg), drop=("progress", "checkpoint_every_s"))


def canonical(obj) -> str:
    from lava_nt.io import to_jsonable

    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"))


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif canonical(a) != canonical(b):
            out.append(f"{prefix}{k}: {canonical(a)[:40]} -> {canonical(b)[:40]}")
    return out


@dataclass
class RunPlan:
    """Where a run writes and what identifies it (see the module docstring)."""

    command: str
    out: Path
    run_dir: Path
    identity: dict
    key: str
    resuming: bool = False

    def provenance(self) -> dict:
        """The ``run`` entry of the output model file's provenance."""
        return {"identity": self.key, **self.identity, "run_dir": str(self.run_dir)}


def finished_model(out: Path, key: str):
    """``ModelInfo`` of ``out`` if it is the finished product of the run ``key``, else None."""
    from lava_nt.converters.model_file import ModelFileError, load_model

    try:
        _, info = load_model(out)
    except ModelFileError:
        return None
    run = info.meta.get("run")
    return info if isinstance(run, dict) and run.get("identity") == key else None


def plan_run(command: str, args, settings: dict, inputs: dict[str, str]):
    """Check the output file and the run directory before any training.

    Returns ``(plan, info)``: ``info`` is the finished model's ``ModelInfo`` when this exact run
    already finished (nothing to do), else None. Raises :class:`RunError` when the output or the
    run directory belongs to something else (without ``--overwrite``) or cannot be written.
    """
    out = Path(args.out)
    run_dir = Path(args.run_dir) if args.run_dir else out.with_name(out.stem + ".run")
    identity = {
        "command": command,
        "settings": settings,
        "inputs": {role: file_sha256(p) for role, p in inputs.items()},
        "input_paths": {role: str(p) for role, p in inputs.items()},
    }
    # paths are recorded for the user, but do not identify the run (moved files are the same)
    key = hashlib.sha256(
        canonical({k: v for k, v in identity.items() if k != "input_paths"}).encode()
    ).hexdigest()
    plan = RunPlan(command, out, run_dir, identity, key)
    if out.exists() and not args.overwrite and not out.is_dir():
        info = finished_model(out, key)
        if info is not None:
            return plan, info
        raise RunError(
            f"'{out}' exists and is not the result of this run; pass --overwrite to replace it "
            "or choose another --out"
        )
    check_output(out, True, RunError)
    if run_dir.resolve() == out.resolve():
        raise RunError("--run-dir must differ from --out")
    check_output_dir(run_dir, RunError)
    stored = run_dir / "run.json"
    if args.overwrite:
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
    elif stored.exists():
        try:
            old = json.loads(stored.read_text())
        except (OSError, ValueError) as exc:
            raise RunError(
                f"'{stored}' cannot be read ({exc}); pass --overwrite to start over"
            ) from None
        if not isinstance(old, dict) or old.get("key") != key:
            old_id = old.get("identity", {}) if isinstance(old, dict) else {}
            ours = {k: v for k, v in identity.items() if k != "input_paths"}
            theirs = {k: v for k, v in old_id.items() if k != "input_paths"}
            diff = _differences(theirs, ours) or ["unreadable identity"]
            raise RunError(
                f"run directory '{run_dir}' holds a run with other settings or inputs ("
                + "; ".join(diff[:6])
                + "); run the same command as before to resume it, choose another --run-dir, "
                "or pass --overwrite to start over"
            )
        plan.resuming = (run_dir / "checkpoint.pt").exists()
    from lava_nt.io import atomic_write_text

    atomic_write_text(stored, json.dumps({"key": key, "identity": identity}, indent=1) + "\n")
    return plan, None


def history_summary(history: list[dict], best_epoch: int, select: str) -> str:
    """One line: epochs run and the selected epoch's accuracies."""
    if not history:
        return "no epochs run"
    row = next((r for r in history if r["epoch"] == best_epoch), history[-1])
    parts = [f"train accuracy {row['train_acc']:.3f}"]
    if "val_acc" in row:
        parts.append(f"validation accuracy {row['val_acc']:.3f}")
    how = {"val": "best validation accuracy", "last": "last epoch"}.get(select, select)
    return f"{len(history)} epochs run; kept epoch {best_epoch} ({how}): " + ", ".join(parts)


def shell_quote(path) -> str:
    import shlex

    return shlex.quote(str(path))
