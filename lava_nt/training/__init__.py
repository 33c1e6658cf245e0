"""BPTT training for pretraining and tuning: Adam, population-coded or readout loss, spike-rate L1,
validation-based model selection, early stopping, metrics file, checkpoint and resume.

The model maps input spikes ``[T, B, n_in]`` (or a static input ``[B, n_in]`` held for ``T``
steps, as in the EEG task) to output spikes ``[T, B, n_out]``. Models that accept
``record=True`` and return ``(out, layer_spikes)`` get the L1 spike-rate penalty on every layer;
otherwise it applies to the output only.

Output coding: ``n_out = n_classes * population``; the logit of class k is the spike count of its
population summed over time (thesis: 50 output neurons per class). Loss ``"ce"`` is cross-entropy on
those counts; ``"mse"`` pulls each output neuron's spike rate to ``target_rates`` (on, off).

A model that ends in a non-spiking :class:`~lava_nt.nn.readout.Readout` (an imported netx or NIR
network, :func:`readout_of`) is read through it instead: the logit of class k is readout unit k's
value (its voltage trace reduced as the readout says: ``last``, ``mean`` or ``max``), the loss is
:func:`lava_nt.nn.readout.readout_loss` (cross-entropy of those values, ``"ce"`` only) and the
spike-rate penalty covers the spiking layers. Such a model may take graded (real-valued) input
when it was built for it (``input="graded"``).

Model selection (:func:`is_better`, shared with :mod:`lava_nt.personalise`): an epoch becomes the
new best when its selection accuracy (validation for ``select="val"``, test for ``"test"``) is
strictly greater than the best so far, or equal with a strictly lower loss on the same set; with
``"last"`` every epoch replaces the previous one. Such an improvement resets the patience counter.

A run is deterministic given ``seed``: batches are shuffled with a seeded ``torch.Generator``
whose state goes into every checkpoint, so a run that is killed and resumed ends with exactly the
result of an uninterrupted run (tests prove it), also when it was killed after its last epoch or
early stop but before it wrote ``best.pt``, and also when checkpoints are written only every
``checkpoint_every_s`` seconds (the epochs since the last checkpoint are recomputed on resume).

Abstracted gradients (``TrainConfig.abstract``, the thesis' chapter 3,
:mod:`lava_nt.training.abstracted`): the training steps run the network through
:class:`AbstractedNetwork`, whose backward pass carries the gradient at each block's output to the
block's input through one matrix ``M`` (derived per batch by least squares, or ``[I 0]``) while
the block's own parameters get their ordinary gradient; evaluation runs the plain network (same
forward). A ``FusedNTNetwork`` stays fused (split into fused segments at the block boundaries).

Sparse spiking gradient descent (``TrainConfig.sparse_grad = B_th``,
:mod:`lava_nt.nn.sparse_grad`): during ``train`` every spiking population's surrogate derivative
is zero outside ``|v' - vth| < B_th * vth``; the forward pass, and so evaluation, is unchanged.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from lava_nt.decode import check_labels, predict
from lava_nt.device import module_device, resolve_device
from lava_nt.io import append_jsonl, atomic_torch_save, atomic_write_text, to_jsonable
from lava_nt.nn.sparse_grad import sparse_gradients
from lava_nt.spec.validation import ParameterError
from lava_nt.training.abstracted import MATRICES, AbstractedNetwork
from lava_nt.training.batches import (
    CompiledForward,
    _check_readout,
    _model_n_in,
    check_data,
    population_counts,
    readout_of,
    run_model,
    takes_graded_input,
)
from lava_nt.training.batches import evaluate as _evaluate
from lava_nt.training.batches import loss_and_counts as _loss_and_counts
from lava_nt.training.checkpoint import _load_checkpoint
from lava_nt.training.config import (
    LOSSES,
    PRETRAIN_LR,
    SELECTIONS,
    TUNE_LR,
    TrainConfig,
    TrainResult,
    _selection,
    default_lr,
    for_model,
    is_better,
    model_classes,
)

__all__ = [
    "LOSSES",
    "MATRICES",
    "AbstractedNetwork",
    "PRETRAIN_LR",
    "SELECTIONS",
    "TUNE_LR",
    "CompiledForward",
    "TrainConfig",
    "TrainResult",
    "check_data",
    "check_labels",
    "default_lr",
    "evaluate",
    "for_model",
    "is_better",
    "model_classes",
    "loss_and_counts",
    "population_counts",
    "readout_of",
    "run_model",
    "takes_graded_input",
    "train",
]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    """Replace ``path`` atomically with one JSON line per row (the form of :func:`append_jsonl`)."""
    text = "".join(json.dumps(to_jsonable(row), sort_keys=True) + "\n" for row in rows)
    atomic_write_text(path, text, make_parents=True)


_now = time.monotonic  # the checkpoint clock (tests replace it)


def loss_and_counts(model, x, y, cfg: TrainConfig, compiled=None):
    """``(loss, logits [B, n_classes])`` of a batch: population spike counts, or the values of
    the readout a model ends in (module docstring), with ``cfg`` completed from the model
    (:func:`for_model`)."""
    return _loss_and_counts(model, x, y, for_model(cfg, model, "loss_and_counts"), compiled)


def evaluate(model, x, y, cfg: TrainConfig | None = None, batch_size: int = 256) -> dict:
    """Accuracy, loss and mean output spike count on a data set (no gradients).

    ``cfg`` (default ``TrainConfig()``) is completed from the model (:func:`for_model`: its
    class count when ``cfg.n_classes`` is None; a different explicit count is an error), and the
    labels are checked against the class count."""
    cfg = for_model(cfg if cfg is not None else TrainConfig(), model, "evaluate")
    check_labels(y, cfg.n_classes, "evaluate")
    return _evaluate(model, x, y, cfg, batch_size)


def train(
    model: torch.nn.Module,
    train_data: tuple[torch.Tensor, torch.Tensor],
    cfg: TrainConfig,
    val_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    test_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    run_dir: str | Path | None = None,
    resume: bool = True,
    stop_after_epoch: int | None = None,
) -> TrainResult:
    """Train the model's trainable parameters (whatever a tuning method left trainable).

    Writes, when ``run_dir`` is given: ``metrics.jsonl`` (one line per epoch),
    ``checkpoint.pt`` (atomically; after the first epoch, then every
    ``cfg.checkpoint_every_s`` seconds, and after the final epoch or early stop) and ``best.pt``
    (the selected weights). With ``resume=True`` an existing checkpoint is continued: the epochs
    after it are recomputed (``metrics.jsonl`` is first rewritten from the checkpoint's history,
    so every epoch appears once), and a checkpoint of a run that had already ended (last epoch,
    or patience exhausted) is only finalised, as the uninterrupted run would have: the same
    result, model and ``best.pt``. Without a checkpoint to resume (or with ``resume=False``) the
    run starts over and old ``metrics.jsonl``/``checkpoint.pt``/``best.pt`` files are removed.
    Files are written through :mod:`lava_nt.io` (fsynced, renamed into place) and the checkpoint
    is read with ``weights_only=True``: a checkpoint that would build Python objects when loaded
    is refused with :class:`~lava_nt.io.UnsafeFileError` (nothing in it runs). A truncated or
    corrupt checkpoint (a disk fault: a kill cannot tear it) is moved aside to
    ``checkpoint.pt.corrupt-<n>`` with a ``RuntimeWarning`` and the training starts from scratch.
    At the end the model holds the selected epoch's parameters.

    ``cfg.device`` (:func:`lava_nt.device.resolve_device`) moves the model and the data there for
    the training and the model back afterwards; checkpoints load onto any device.

    ``stop_after_epoch`` simulates a kill (for tests): ``train`` returns right after that
    epoch's metrics line and (due) checkpoint, before the early-stop check, without loading the
    best epoch or writing ``best.pt``; what was not checkpointed is lost as in a real kill.
    """
    device = resolve_device(cfg.device, "train: device")
    home = module_device(model)
    with sparse_gradients(model, cfg.sparse_grad):  # None: the spike functions stay as they are
        if device == home:
            return _train(model, train_data, cfg, val_data, test_data, run_dir, resume,
                          stop_after_epoch)  # fmt: skip

        def to(data):
            return None if data is None else tuple(t.to(device) for t in data)

        model.to(device)
        try:
            return _train(model, to(train_data), cfg, to(val_data), to(test_data), run_dir,
                          resume, stop_after_epoch)  # fmt: skip
        finally:
            model.to(home)  # the caller's model ends where it started, with the selected epoch


@dataclass
class _Run:
    """The mutable state of one training run (what a checkpoint holds)."""

    history: list = field(default_factory=list)
    best: dict = field(
        default_factory=lambda: {"epoch": -1, "metric": -math.inf, "loss": math.inf, "state": None}
    )
    start_epoch: int = 0
    bad_epochs: int = 0
    have_ckpt: bool = False  # a checkpoint of this run is on disk
    last_ckpt: float = 0.0


def _check_inputs(model, cfg, train_data, val_data, test_data) -> list:
    """Validate the data sets and the selection against the model; its trainable parameters."""
    n_in = _model_n_in(model)
    graded = takes_graded_input(model)
    for data, where in ((train_data, "train data"), (val_data, "validation data"),
                        (test_data, "test data")):  # fmt: skip
        if data is not None:
            check_labels(data[1], cfg.n_classes, where)
            check_data(*data, n_in, cfg.n_classes, where, graded)
    ro = readout_of(model)
    if ro is not None:
        _check_readout(ro, cfg)
    if cfg.select == "val" and val_data is None:
        raise ParameterError("train: select='val' needs validation data (or use select='last')")
    if cfg.select == "test" and test_data is None:
        raise ParameterError("train: select='test' (thesis protocol) needs test data")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ParameterError("train: the model has no trainable parameters (apply a tuning method)")
    return params


def _open_run_dir(run_dir: Path, resume: bool, cfg, model, opt, gen) -> _Run:
    """Resume the checkpoint in ``run_dir`` (model, optimizer, generators, history) or clear the
    directory's stale files for a fresh run."""
    run = _Run()
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / "checkpoint.pt"
    state = _load_checkpoint(ckpt, cfg) if ckpt.exists() and resume else None
    if state is None:
        for stale in (run_dir / "metrics.jsonl", ckpt, run_dir / "best.pt"):
            if stale.exists():
                stale.unlink()
        return run
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    run.history, run.best = state["history"], state["best"]
    run.start_epoch, run.bad_epochs = state["epoch"] + 1, state["bad_epochs"]
    # epochs after the checkpoint were lost with the kill and are run again
    _write_jsonl(run_dir / "metrics.jsonl", run.history)
    run.have_ckpt = True
    return run


def _compiled_forward(model, x_tr, cfg):
    if not cfg.compile:
        return None
    if cfg.abstract:
        raise ParameterError(
            "train: compile=True does not combine with abstracted gradients ('abstract')"
        )
    if cfg.sparse_grad is not None:
        raise ParameterError(
            "train: compile=True does not combine with sparse gradients ('sparse_grad')"
        )
    if x_tr.ndim != 2 or not hasattr(model, "forward_static"):
        raise ParameterError("train: compile=True needs static inputs [B, n_in] and an NTNetwork")
    return CompiledForward(model, cfg.compile_backend)


def _train_epoch(model, x_tr, y_tr, cfg, opt, params, gen, compiled, fwd=None) -> dict:
    """One epoch of shuffled mini-batches; the epoch's mean training loss and accuracy.
    ``fwd``: the module that runs the training forward (an :class:`AbstractedNetwork` of
    ``model``; default ``model`` itself)."""
    fwd = model if fwd is None else fwd
    model.train()
    n = len(y_tr)
    perm = torch.randperm(n, generator=gen)
    tot, correct = 0.0, 0
    for i in range(0, n, cfg.batch_size):
        idx = perm[i : i + cfg.batch_size]
        xb = x_tr[..., idx, :]
        yb = y_tr[idx]
        opt.zero_grad(set_to_none=True)
        loss, counts = _loss_and_counts(fwd, xb, yb, cfg, compiled)
        loss.backward()
        if cfg.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        opt.step()
        if hasattr(model, "after_step"):
            model.after_step()
        tot += float(loss.detach()) * len(idx)
        correct += int((predict(counts) == yb).sum())
    return {"train_loss": tot / n, "train_acc": correct / n}


def _select_epoch(run: _Run, model, row: dict, cfg) -> None:
    """Apply the model-selection rule to the epoch's ``row`` (keeping a copy of a new best)."""
    metric, sel_loss = _selection(row, cfg.select)
    if is_better(metric, sel_loss, run.best["metric"], run.best["loss"]):
        run.best = {
            "epoch": row["epoch"],
            "metric": metric,
            "loss": sel_loss,
            "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        }
        run.bad_epochs = 0
    else:
        run.bad_epochs += 1
    run.history.append(row)


def _record_epoch(run: _Run, run_dir: Path, row: dict, ended: bool, cfg, model, opt, gen):
    """Append the epoch's metrics line and write the checkpoint when one is due."""
    due = not run.have_ckpt or ended or _now() - run.last_ckpt >= cfg.checkpoint_every_s
    # the metrics line is fsynced with each checkpoint (a resume rewrites it anyway)
    append_jsonl(run_dir / "metrics.jsonl", row, sync=due)
    if due:
        atomic_torch_save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "generator": gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "history": run.history,
                "best": run.best,
                "epoch": row["epoch"],
                "bad_epochs": run.bad_epochs,
                "config": asdict(cfg),
            },
            run_dir / "checkpoint.pt",
        )
        run.have_ckpt, run.last_ckpt = True, _now()


def _epochs(run: _Run, cfg, stopped_early: bool):
    epochs = range(run.start_epoch, cfg.epochs if not stopped_early else run.start_epoch)
    if cfg.progress:
        epochs = tqdm(epochs, desc="train", initial=run.start_epoch, total=cfg.epochs, leave=False)
    return epochs


def _finish(run: _Run, model, run_dir, stopped_early: bool) -> TrainResult:
    """Load the selected epoch into the model, write ``best.pt``; the result."""
    best = run.best
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    if run_dir:
        atomic_torch_save(
            {
                "model": model.state_dict(),
                "epoch": best["epoch"],
                "metric": best["metric"],
                "loss": best["loss"],
            },
            run_dir / "best.pt",
        )
    return TrainResult(
        best["epoch"], float(best["metric"]), run.history, stopped_early, best_loss=best["loss"]
    )


def _train(model, train_data, cfg, val_data, test_data, run_dir, resume, stop_after_epoch):
    cfg = for_model(cfg, model, "train")
    x_tr, y_tr = train_data
    params = _check_inputs(model, cfg, train_data, val_data, test_data)

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    run_dir = Path(run_dir) if run_dir is not None else None
    run = _open_run_dir(run_dir, resume, cfg, model, opt, gen) if run_dir else _Run()

    def patience_out() -> bool:
        return cfg.patience is not None and run.bad_epochs >= cfg.patience

    compiled = _compiled_forward(model, x_tr, cfg)
    fwd = AbstractedNetwork(model, cfg.abstract, cfg.abstract_matrix) if cfg.abstract else None
    # a resumed run that had already ended (killed before best.pt) is only finalised
    stopped_early = patience_out()
    epochs = _epochs(run, cfg, stopped_early)
    run.last_ckpt = _now()
    for epoch in epochs:
        row = {
            "epoch": epoch,
            **_train_epoch(model, x_tr, y_tr, cfg, opt, params, gen, compiled, fwd),
        }
        for data, part in ((val_data, "val"), (test_data, "test")):
            if data is not None:
                r = evaluate(model, *data, cfg)
                row.update({f"{part}_acc": r["acc"], f"{part}_loss": r["loss"]})
        _select_epoch(run, model, row, cfg)
        if cfg.progress and hasattr(epochs, "set_postfix"):
            epochs.set_postfix({k: round(v, 3) for k, v in row.items() if k != "epoch"})
        stopped_early = patience_out()
        if run_dir:
            ended = stopped_early or epoch == cfg.epochs - 1
            _record_epoch(run, run_dir, row, ended, cfg, model, opt, gen)
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            best = run.best
            return TrainResult(
                best["epoch"], best["metric"], run.history, stopped_early=False,
                best_loss=best["loss"],
            )  # fmt: skip
        if stopped_early:
            break
    return _finish(run, model, run_dir, stopped_early)
