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
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from lava_nt.device import module_device, resolve_device
from lava_nt.io import (
    CorruptFileError,
    append_jsonl,
    atomic_torch_save,
    atomic_write_text,
    load_torch,
    move_aside,
    to_jsonable,
)
from lava_nt.spec.validation import ParameterError, check_choice

LOSSES = ("ce", "mse")
SELECTIONS = ("val", "test", "last")


@dataclass
class TrainConfig:
    """Training settings (thesis defaults: Adam lr 1e-4, batch 32, L1 spike penalty 1e-3).

    ``select``: ``"val"`` keeps the epoch with the best validation accuracy (honest protocol),
    ``"test"`` the best test accuracy (the thesis protocol; reports must say so), ``"last"`` the
    final epoch. Ties of accuracy go to the epoch with the lower loss on the same set (the
    training objective incl. the spike-rate penalty, the history's ``val_loss``/``test_loss``):
    an epoch becomes the new best when its accuracy is strictly greater, or equal with a strictly
    lower loss (:func:`is_better`); otherwise the earlier epoch stays. ``patience``: stop after that
    many consecutive epochs without such an improvement (None = never).

    ``checkpoint_every_s``: ``train`` writes ``checkpoint.pt`` after the first epoch, then after
    an epoch when at least this many seconds passed since the last checkpoint, and always after
    the final epoch (or the early stop); 0 = after every epoch. A killed run loses at most about
    this much work; the resume stays exact. It and ``progress`` do not change the result, so a
    run may be resumed with other values of them.
    """

    epochs: int = 15
    lr: float = 1e-4
    batch_size: int = 32
    T: int = 25
    n_classes: int = 2
    loss: str = "ce"
    spike_l1: float = 1e-3
    target_rates: tuple[float, float] = (0.5, 0.0)
    weight_decay: float = 0.0
    select: str = "val"
    patience: int | None = None
    seed: int = 0
    progress: bool = False
    max_grad_norm: float | None = None
    compile: bool = False  # torch.compile the forward (one-time cost printed; eager fallback)
    compile_backend: str = "inductor"
    checkpoint_every_s: float = 30.0
    device: str = "cpu"  # "cpu", "cuda", "cuda:N" or "auto" (lava_nt.device)

    def __post_init__(self):
        resolve_device(self.device, "TrainConfig: 'device'")
        check_choice(self.loss, LOSSES, "TrainConfig", "loss")
        check_choice(self.select, SELECTIONS, "TrainConfig", "select")
        for name in ("epochs", "batch_size", "T", "n_classes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ParameterError(f"TrainConfig: '{name}' must be a positive integer, got {v!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ParameterError(f"TrainConfig: 'lr' must be positive, got {self.lr!r}")
        if not (self.spike_l1 >= 0 and math.isfinite(self.spike_l1)):
            raise ParameterError(
                f"TrainConfig: 'spike_l1' must be a finite number >= 0, got {self.spike_l1!r}"
            )
        p = self.patience
        if p is not None and (isinstance(p, bool) or not isinstance(p, int) or p <= 0):
            raise ParameterError(
                f"TrainConfig: 'patience' must be a positive integer or None, got {p!r}"
            )
        c = self.checkpoint_every_s
        if isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c) or c < 0:
            raise ParameterError(
                "TrainConfig: 'checkpoint_every_s' must be a finite number of seconds >= 0 "
                f"(0 = a checkpoint after every epoch), got {c!r}"
            )


# Fields that do not change a run's result: a checkpoint may be resumed with other values.
_RUN_ONLY_FIELDS = ("checkpoint_every_s", "progress", "device")


@dataclass
class TrainResult:
    """``best_epoch``/``best_metric``: the selected epoch and its selection metric (accuracy, or
    the epoch number for ``select="last"``); ``best_loss``: its loss on the selection set (None
    for ``"last"``); ``history``: one row per epoch run; ``stopped_early``: patience ran out."""

    best_epoch: int
    best_metric: float
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False
    best_loss: float | None = None


def is_better(
    metric: float, loss: float | None, best_metric: float, best_loss: float | None
) -> bool:
    """The model-selection rule: does an epoch with ``(metric, loss)`` replace the best so far?

    True when ``metric`` is strictly greater than ``best_metric``, or equal to it with a strictly
    lower ``loss`` than ``best_loss`` (the loss on the same set the metric was measured on). A NaN
    never wins, and without a loss (None on either side) ties keep the earlier epoch. Start a
    search with ``best_metric=-inf, best_loss=inf``.
    """
    if metric > best_metric:
        return True
    return metric == best_metric and loss is not None and best_loss is not None and loss < best_loss


def _selection(row: dict, select: str) -> tuple[float, float | None]:
    """The selection metric and loss of one history row."""
    if select == "last":
        return row["epoch"], None
    return row[f"{select}_acc"], row[f"{select}_loss"]


def _replay_selection(history: list[dict], select: str):
    """``(best_epoch, best_metric, best_loss, bad_epochs)`` the rule gives over ``history``."""
    best_epoch, best_metric, best_loss, bad = -1, -math.inf, math.inf, 0
    for row in history:
        metric, loss = _selection(row, select)
        if is_better(metric, loss, best_metric, best_loss):
            best_epoch, best_metric, best_loss, bad = row["epoch"], metric, loss, 0
        else:
            bad += 1
    return best_epoch, best_metric, best_loss, bad


def population_counts(out: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Spike counts per class population: ``[T, ..., n_out] -> [..., n_classes]``."""
    n_out = out.shape[-1]
    if n_out % n_classes:
        raise ParameterError(
            f"population coding: {n_out} output neurons do not split into {n_classes} classes"
        )
    counts = out.sum(0)
    return counts.reshape(*counts.shape[:-1], n_classes, n_out // n_classes).sum(-1)


def check_data(
    x: torch.Tensor,
    y: torch.Tensor,
    n_in: int | None,
    n_classes: int,
    where: str,
    graded: bool = False,
):
    """Validate a data set: finite binary spikes (any finite values with ``graded``) of the right
    width, integer labels in range."""
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ParameterError(f"{where}: x and y must be torch tensors")
    if x.ndim not in (2, 3):
        raise ParameterError(
            f"{where}: x must be [B, n_in] (static) or [T, B, n_in], got {tuple(x.shape)}"
        )
    if n_in is not None and x.shape[-1] != n_in:
        raise ParameterError(
            f"{where}: x has width {x.shape[-1]}, the network expects {n_in} inputs"
        )
    if not torch.isfinite(x).all():
        raise ParameterError(f"{where}: x contains NaN or inf")
    if not graded and not ((x == 0) | (x == 1)).all():
        raise ParameterError(f"{where}: x must be binary spikes (0/1)")
    b = x.shape[-2]
    if y.shape != (b,):
        raise ParameterError(f"{where}: y must have shape ({b},), got {tuple(y.shape)}")
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ParameterError(f"{where}: y must hold integer class labels")
    if b and (y.min() < 0 or y.max() >= n_classes):
        raise ParameterError(f"{where}: labels must be in [0, {n_classes - 1}]")


def _model_n_in(model) -> int | None:
    return getattr(model, "n_in", None)


def _inner(model):
    """The model and the network a wrapper (``FusedNTNetwork``) runs, outermost first."""
    inner = getattr(model, "net", None)
    return (model,) if inner is None else (model, inner)


def readout_of(model):
    """The :class:`~lava_nt.nn.readout.Readout` a model ends in (also through a wrapper such as
    ``FusedNTNetwork``), or None for a population-coded model."""
    for m in _inner(model):
        ro = getattr(m, "readout", None)
        if ro is not None:
            return ro
    return None


def takes_graded_input(model) -> bool:
    """Whether the model was built for graded (real-valued) input (``input="graded"``)."""
    return any(getattr(m, "input", None) == "graded" for m in _inner(model))


class CompiledForward:
    """``torch.compile`` of a model's static forward with a printed one-time cost and an eager
    fallback when compilation fails (the eager path stays the tested reference)."""

    def __init__(self, model, backend: str = "inductor"):
        self.model = model
        self.backend = backend
        self._fn = torch.compile(model.forward_static, backend=backend, dynamic=False)
        self._first = True

    def __call__(self, x, T, record=True):
        if self._fn is None:
            return self.model.forward_static(x, T, record=record)
        import time
        import warnings

        t0 = time.perf_counter()
        try:
            out = self._fn(x, T, record=record)
        except Exception as exc:  # noqa: BLE001 - any compiler failure falls back to eager
            warnings.warn(
                f"torch.compile failed ({exc!r:.200}); using the eager path", stacklevel=2
            )
            self._fn = None
            return self.model.forward_static(x, T, record=record)
        if self._first:
            self._first = False
            cost = time.perf_counter() - t0
            print(
                f"torch.compile ({self.backend}): first call took {cost:.1f} s "
                "(one-time; later calls reuse the graph)"
            )
        return out


def run_model(model, x: torch.Tensor, T: int, record: bool = True, compiled=None):
    """Forward a batch; returns ``(out [T, B, n_out], list of layer spike tensors)``."""
    if x.ndim == 2 and compiled is not None:
        res = compiled(x, T, record=record)
    elif x.ndim == 2 and hasattr(model, "forward_static"):
        res = model.forward_static(x, T, record=record)
    else:
        if x.ndim == 2:
            x = x.unsqueeze(0).expand(T, *x.shape)
        try:
            res = model(x, record=record)
        except TypeError:
            res = model(x)
    if isinstance(res, tuple):
        out, layers = res[0], res[1]
        if layers is None:
            return out, [out]
        # NTNetwork records one dict per layer ({"spikes", "bias_current", ...})
        return out, [rec["spikes"] if isinstance(rec, dict) else rec for rec in layers]
    return res, [res]


def _check_readout(ro, cfg: TrainConfig) -> None:
    if cfg.loss != "ce":
        raise ParameterError(
            f"train: the model ends in a readout, whose loss is cross-entropy of its values; "
            f"loss={cfg.loss!r} applies to population-coded spike outputs (use loss='ce')"
        )
    if ro.n != cfg.n_classes:
        raise ParameterError(
            f"train: the readout has {ro.n} units, one per class, but n_classes={cfg.n_classes}"
        )


def loss_and_counts(model, x, y, cfg: TrainConfig, compiled=None):
    """``(loss, logits [B, n_classes])`` of a batch: population spike counts, or the readout's
    values for a model that ends in a readout (module docstring)."""
    out, layers = run_model(model, x, cfg.T, compiled=compiled)
    ro = readout_of(model)
    if ro is not None:
        from lava_nt.nn.readout import readout_loss

        _check_readout(ro, cfg)
        values = ro.values(out)
        loss = readout_loss(values, y)
        spikes = [s for s in layers if s is not out]  # the readout trace is not spikes
        if cfg.spike_l1 > 0 and spikes:
            rate = sum(s.abs().mean() for s in spikes) / len(spikes)
            loss = loss + cfg.spike_l1 * rate
        return loss, values
    counts = population_counts(out, cfg.n_classes)
    if cfg.loss == "ce":
        loss = torch.nn.functional.cross_entropy(counts, y)
    else:
        on, off = cfg.target_rates
        pop = out.shape[-1] // cfg.n_classes
        target = torch.full_like(out[0], off)
        rows = torch.arange(len(y), device=y.device)
        target.view(*target.shape[:-1], cfg.n_classes, pop)[rows, y] = on
        loss = ((out.mean(0) - target) ** 2).mean()
    if cfg.spike_l1 > 0:
        rate = sum(s.abs().mean() for s in layers) / len(layers)
        loss = loss + cfg.spike_l1 * rate
    return loss, counts


@torch.no_grad()
def evaluate(model, x, y, cfg: TrainConfig, batch_size: int = 256) -> dict:
    """Accuracy, loss and mean output spike count on a data set (no gradients)."""
    if len(y) == 0:
        return {"acc": float("nan"), "loss": float("nan")}
    dev = module_device(model)
    x, y = x.to(dev), y.to(dev)
    was_training = model.training
    model.eval()
    correct, total_loss, n = 0, 0.0, 0
    for i in range(0, len(y), batch_size):
        xb = x[..., i : i + batch_size, :]
        yb = y[i : i + batch_size]
        loss, counts = loss_and_counts(model, xb, yb, cfg)
        correct += int((counts.argmax(-1) == yb).sum())
        total_loss += float(loss) * len(yb)
        n += len(yb)
    model.train(was_training)
    return {"acc": correct / n, "loss": total_loss / n}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    """Replace ``path`` atomically with one JSON line per row (the form of :func:`append_jsonl`)."""
    text = "".join(json.dumps(to_jsonable(row), sort_keys=True) + "\n" for row in rows)
    atomic_write_text(path, text, make_parents=True)


_now = time.monotonic  # the checkpoint clock (tests replace it)


_CHECKPOINT_KEYS = {
    "model": dict,
    "optimizer": dict,
    "generator": torch.Tensor,
    "torch_rng": torch.Tensor,
    "history": list,
    "best": dict,
    "epoch": int,
    "bad_epochs": int,
    "config": dict,
}


def _load_checkpoint(ckpt: Path, cfg: TrainConfig) -> dict | None:
    """Read a checkpoint of this configuration; fill in and verify its selection state.

    Returns None when the file is truncated or corrupt: it is then moved aside to
    ``checkpoint.pt.corrupt-<n>`` (with a warning) and the run starts from scratch. A file that
    would build Python objects when loaded raises :class:`~lava_nt.io.UnsafeFileError` (nothing
    in it runs); a readable file that is not a checkpoint of this trainer raises
    :class:`ParameterError` naming it."""
    try:
        state = load_torch(ckpt, what="trainer checkpoint")
    except CorruptFileError as exc:
        aside = move_aside(ckpt)
        warnings.warn(
            f"train: {exc}. It was moved to '{aside}' and this training starts from scratch.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    bad = (
        [f"it holds a {type(state).__name__}, not a dict"]
        if not isinstance(state, dict)
        else [
            f"'{k}' is missing or not a {t.__name__}"
            for k, t in _CHECKPOINT_KEYS.items()
            if not isinstance(state.get(k), t)
        ]
    )
    if bad:
        raise ParameterError(
            f"train: '{ckpt}' is not a checkpoint of this trainer ({'; '.join(bad)}); delete "
            "it, use another run directory or resume=False"
        )
    saved = {k: v for k, v in state["config"].items() if k not in _RUN_ONLY_FIELDS}
    ours = {k: v for k, v in asdict(cfg).items() if k not in _RUN_ONLY_FIELDS}
    if saved != ours:
        diff = sorted(k for k in saved.keys() | ours.keys() if saved.get(k) != ours.get(k))
        raise ParameterError(
            f"train: {ckpt} was written with a different configuration (differs in "
            f"{', '.join(diff)}); use another run directory or resume=False"
        )
    best = state["best"]
    b_epoch, b_metric, b_loss, bad = _replay_selection(state["history"], cfg.select)
    if (b_epoch, bad) != (best["epoch"], state["bad_epochs"]):
        if "loss" in best:
            raise ParameterError(
                f"train: {ckpt} is inconsistent: its best epoch {best['epoch']} and "
                f"{state['bad_epochs']} epochs without improvement do not follow from its "
                f"history (epoch {b_epoch}, {bad}); use another run directory or resume=False"
            )
        # a checkpoint of an older trainer (ties kept the first epoch) that the current rule
        # would have continued differently: resuming it could not give an uninterrupted result
        raise ParameterError(
            f"train: {ckpt} was written by an older trainer whose model selection chose epoch "
            f"{best['epoch']} where the current rule (ties of accuracy broken by the lower "
            f"loss) chooses epoch {b_epoch}; it cannot be resumed exactly. Use another run "
            "directory or resume=False"
        )
    if "loss" not in best:  # older trainer; same choice, so its loss is in the history
        best = {**best, "loss": b_loss}
    state["best"] = best
    return state


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
    if device == home:
        return _train(model, train_data, cfg, val_data, test_data, run_dir, resume,
                      stop_after_epoch)  # fmt: skip

    def to(data):
        return None if data is None else tuple(t.to(device) for t in data)

    model.to(device)
    try:
        return _train(model, to(train_data), cfg, to(val_data), to(test_data), run_dir, resume,
                      stop_after_epoch)  # fmt: skip
    finally:
        model.to(home)  # the caller's model ends where it started, holding the selected epoch


def _train(model, train_data, cfg, val_data, test_data, run_dir, resume, stop_after_epoch):
    x_tr, y_tr = train_data
    n_in = _model_n_in(model)
    graded = takes_graded_input(model)
    check_data(x_tr, y_tr, n_in, cfg.n_classes, "train data", graded)
    if val_data is not None:
        check_data(*val_data, n_in, cfg.n_classes, "validation data", graded)
    if test_data is not None:
        check_data(*test_data, n_in, cfg.n_classes, "test data", graded)
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

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    history: list[dict] = []
    best = {"epoch": -1, "metric": -math.inf, "loss": math.inf, "state": None}
    start_epoch, bad_epochs = 0, 0
    run_dir = Path(run_dir) if run_dir is not None else None
    ckpt = run_dir / "checkpoint.pt" if run_dir else None
    metrics = run_dir / "metrics.jsonl" if run_dir else None
    have_ckpt = False  # a checkpoint of this run is on disk
    if run_dir:
        run_dir.mkdir(parents=True, exist_ok=True)
        state = _load_checkpoint(ckpt, cfg) if ckpt.exists() and resume else None
        if state is not None:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            gen.set_state(state["generator"])
            torch.set_rng_state(state["torch_rng"])
            history, best = state["history"], state["best"]
            start_epoch, bad_epochs = state["epoch"] + 1, state["bad_epochs"]
            # epochs after the checkpoint were lost with the kill and are run again
            _write_jsonl(metrics, history)
            have_ckpt = True
        else:
            for stale in (metrics, ckpt, run_dir / "best.pt"):
                if stale.exists():
                    stale.unlink()

    def patience_out() -> bool:
        return cfg.patience is not None and bad_epochs >= cfg.patience

    compiled = None
    if cfg.compile:
        if x_tr.ndim != 2 or not hasattr(model, "forward_static"):
            raise ParameterError(
                "train: compile=True needs static inputs [B, n_in] and an NTNetwork"
            )
        compiled = CompiledForward(model, cfg.compile_backend)
    n = len(y_tr)
    # a resumed run that had already ended (killed before best.pt) is only finalised
    stopped_early = patience_out()
    epochs = range(start_epoch, cfg.epochs if not stopped_early else start_epoch)
    if cfg.progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="train", initial=start_epoch, total=cfg.epochs, leave=False)
    last_ckpt = _now()
    for epoch in epochs:
        model.train()
        perm = torch.randperm(n, generator=gen)
        tot, correct = 0.0, 0
        for i in range(0, n, cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            xb = x_tr[..., idx, :]
            yb = y_tr[idx]
            opt.zero_grad(set_to_none=True)
            loss, counts = loss_and_counts(model, xb, yb, cfg, compiled)
            loss.backward()
            if cfg.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            opt.step()
            if hasattr(model, "after_step"):
                model.after_step()
            tot += float(loss.detach()) * len(idx)
            correct += int((counts.argmax(-1) == yb).sum())
        row = {"epoch": epoch, "train_loss": tot / n, "train_acc": correct / n}
        if val_data is not None:
            r = evaluate(model, *val_data, cfg)
            row.update(val_acc=r["acc"], val_loss=r["loss"])
        if test_data is not None:
            r = evaluate(model, *test_data, cfg)
            row.update(test_acc=r["acc"], test_loss=r["loss"])
        metric, sel_loss = _selection(row, cfg.select)
        if is_better(metric, sel_loss, best["metric"], best["loss"]):
            best = {
                "epoch": epoch,
                "metric": metric,
                "loss": sel_loss,
                "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
            }
            bad_epochs = 0
        else:
            bad_epochs += 1
        history.append(row)
        if cfg.progress and hasattr(epochs, "set_postfix"):
            epochs.set_postfix({k: round(v, 3) for k, v in row.items() if k != "epoch"})
        stopped_early = patience_out()
        if run_dir:
            ended = stopped_early or epoch == cfg.epochs - 1
            due = not have_ckpt or ended or _now() - last_ckpt >= cfg.checkpoint_every_s
            # the metrics line is fsynced with each checkpoint (a resume rewrites it anyway)
            append_jsonl(metrics, row, sync=due)
            if due:
                atomic_torch_save(
                    {
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "generator": gen.get_state(),
                        "torch_rng": torch.get_rng_state(),
                        "history": history,
                        "best": best,
                        "epoch": epoch,
                        "bad_epochs": bad_epochs,
                        "config": asdict(cfg),
                    },
                    ckpt,
                )
                have_ckpt, last_ckpt = True, _now()
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            return TrainResult(
                best["epoch"], best["metric"], history, stopped_early=False, best_loss=best["loss"]
            )
        if stopped_early:
            break
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
        best["epoch"], float(best["metric"]), history, stopped_early, best_loss=best["loss"]
    )
