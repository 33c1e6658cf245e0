"""The trainer's settings (:class:`TrainConfig`), its result and the model-selection rule."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from lava_nt.device import resolve_device
from lava_nt.nn.sparse_grad import check_band
from lava_nt.spec.validation import ParameterError, check_choice
from lava_nt.training.abstracted import check_blocks, check_matrix

LOSSES = ("ce", "mse")
SELECTIONS = ("val", "test", "last")

PRETRAIN_LR = 1e-4  # the thesis' Adam learning rate, for training weights
# NT methods train a few biases/gains against frozen weights: at the thesis' 1e-4 they barely
# move in a few dozen epochs (the README example: 3 classes, 20 epochs, nt2 reached 0.815 at 1e-4,
# 0.85 at 3e-3, 0.92 at 1e-2 from 0.805 untuned; tutorial 2 and docs/eeg.md agree)
TUNE_LR = 1e-2


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

    ``n_classes``: classes of the output coding; None (default) takes them from the model (its
    ``n_classes``, set by :func:`~lava_nt.builder.build_network` and by model files that record
    it, or its readout's units). A value that differs from the model's is an error, and a model
    that does not say must be given one.

    ``lr``: Adam's learning rate; None (default) chooses by what is trained: ``PRETRAIN_LR``
    (1e-4, the thesis') when any weight is trainable (pretraining, ``tft``), ``TUNE_LR`` (1e-2)
    when every weight is frozen (the NT methods: a few biases or gains need a larger step).

    ``checkpoint_every_s``: ``train`` writes ``checkpoint.pt`` after the first epoch, then after
    an epoch when at least this many seconds passed since the last checkpoint, and always after
    the final epoch (or the early stop); 0 = after every epoch. A killed run loses at most about
    this much work; the resume stays exact. It and ``progress`` do not change the result, so a
    run may be resumed with other values of them.

    ``abstract``: layer blocks whose backward pass is abstracted (the thesis' chapter 3,
    :mod:`lava_nt.training.abstracted`): ``(first, last)`` pairs of 0-based layer indices,
    inclusive, ``first >= 1``, not overlapping; empty (default) = plain BPTT.
    ``abstract_matrix``: the matrix that carries a block's output gradient to its input:
    ``"derived"`` (eq. 5, least squares on the batch's spike counts) or ``"identity"``
    (``[I 0]``). Only :func:`lava_nt.training.train` applies them (on an ``NTNetwork`` or a
    ``FusedNTNetwork``); other trainers refuse a configuration with blocks.

    ``sparse_grad``: the band ``B_th`` of sparse spiking gradient descent (Perez-Nieves &
    Goodman 2021, :mod:`lava_nt.nn.sparse_grad`): during training the surrogate derivative of
    every spiking population is zero outside ``|v' - vth| < B_th * vth``; None (default) = the
    dense surrogate gradient. Applied by :func:`lava_nt.training.train` and
    :func:`lava_nt.personalise.personalise_batched`; QAT networks refuse it.
    """

    epochs: int = 15
    lr: float | None = None
    batch_size: int = 32
    T: int = 25
    n_classes: int | None = None
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
    abstract: tuple[tuple[int, int], ...] = ()
    abstract_matrix: str = "derived"
    sparse_grad: float | None = None

    def __post_init__(self):
        self.sparse_grad = check_band(self.sparse_grad, "TrainConfig: 'sparse_grad'")
        self.abstract = check_blocks(self.abstract, None, "TrainConfig: 'abstract'")
        check_matrix(self.abstract_matrix, "TrainConfig: 'abstract_matrix'")
        resolve_device(self.device, "TrainConfig: 'device'")
        check_choice(self.loss, LOSSES, "TrainConfig", "loss")
        check_choice(self.select, SELECTIONS, "TrainConfig", "select")
        for name in ("epochs", "batch_size", "T", "n_classes"):
            v = getattr(self, name)
            if name == "n_classes" and v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ParameterError(f"TrainConfig: '{name}' must be a positive integer, got {v!r}")
        if self.lr is not None and not (
            isinstance(self.lr, int | float) and self.lr > 0 and math.isfinite(self.lr)
        ):
            raise ParameterError(f"TrainConfig: 'lr' must be positive (or None), got {self.lr!r}")
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


def model_classes(model) -> int | None:
    """The classes a model's output codes: its readout's units, else its ``n_classes``
    (also through a wrapper such as ``FusedNTNetwork``); None when it does not say."""
    inner = getattr(model, "net", None)
    for m in (model,) if inner is None else (model, inner):
        ro = getattr(m, "readout", None)
        if ro is not None and getattr(ro, "n", None) is not None:
            return int(ro.n)
        n = getattr(m, "n_classes", None)
        if n is not None:
            return int(n)
    return None


def trains_weights(model) -> bool:
    """Whether any trainable parameter of ``model`` is a weight matrix (``*.weight``): pretraining
    or fine-tuning (``tft``), not an NT method."""
    return any(p.requires_grad and name.rsplit(".", 1)[-1] == "weight"
               for name, p in model.named_parameters())  # fmt: skip


def default_lr(model) -> float:
    """``TUNE_LR`` when every weight of ``model`` is frozen (an NT method), else ``PRETRAIN_LR``."""
    return PRETRAIN_LR if trains_weights(model) else TUNE_LR


def for_model(cfg: TrainConfig, model, where: str = "train") -> TrainConfig:
    """``cfg`` with ``n_classes`` and ``lr`` filled in from ``model`` (see :class:`TrainConfig`).

    Raises:
        ParameterError: ``cfg.n_classes`` differs from the model's class count, or neither says.
    """
    own = model_classes(model)
    n = cfg.n_classes
    if n is None and own is None:
        raise ParameterError(
            f"{where}: the model does not record its number of classes (no n_classes attribute, "
            "no readout); pass TrainConfig(n_classes=N)"
        )
    if n is not None and own is not None and n != own:
        raise ParameterError(
            f"{where}: TrainConfig(n_classes={n}) but the model has {own} classes; leave "
            "n_classes unset (None) to use the model's"
        )
    if cfg.abstract and where not in _ABSTRACTION_READERS:
        raise ParameterError(
            f"{where}: abstracted gradients (TrainConfig.abstract) are applied by "
            "lava_nt.training.train only; use it, or leave 'abstract' empty"
        )
    n = own if n is None else n
    lr = cfg.lr if cfg.lr is not None else default_lr(model)
    return cfg if (n, lr) == (cfg.n_classes, cfg.lr) else replace(cfg, n_classes=n, lr=lr)


# Fields that do not change a run's result: a checkpoint may be resumed with other values.
_RUN_ONLY_FIELDS = ("checkpoint_every_s", "progress", "device")

# Callers of for_model that honour TrainConfig.abstract (train) or only run forward passes, where
# the abstraction changes nothing; any other caller (a trainer of its own) refuses it.
_ABSTRACTION_READERS = ("train", "evaluate", "evaluate_batched", "loss_and_counts")

# Fields added after checkpoints and run identities were first written. Without blocks the
# abstraction fields change nothing, so a configuration without blocks is compared without them,
# and a stored configuration that lacks them (older checkpoints and run directories) still
# compares equal; with blocks both fields count.
_ABSTRACTION_FIELDS = ("abstract", "abstract_matrix")


def comparable(config: dict, drop=_RUN_ONLY_FIELDS) -> dict:
    """A configuration dict (``asdict(TrainConfig)``, or one read from a checkpoint) as it is
    compared between runs: without the fields in ``drop``, without the abstraction fields when
    it has no ``abstract`` blocks, without ``sparse_grad`` when it is None, tuples as lists
    (JSON's form)."""
    skip = set(drop) | (set() if config.get("abstract") else set(_ABSTRACTION_FIELDS))
    if config.get("sparse_grad") is None:  # added later: absent = the dense default
        skip.add("sparse_grad")
    return {k: _plain(v) for k, v in config.items() if k not in skip}


def _plain(v):
    return [_plain(e) for e in v] if isinstance(v, list | tuple) else v


@dataclass
class TrainResult:
    """What :func:`lava_nt.training.train` returns (the model itself is trained in place and
    holds the selected epoch's parameters).

    Attributes:
        best_epoch: the selected epoch (0-based; see :func:`is_better` and ``select``).
        best_metric: its selection metric: the accuracy on the selection set (validation for
            ``select="val"``, test for ``"test"``), or the epoch number for ``select="last"``.
        history: one dict per epoch run: ``epoch``, ``train_loss``, ``train_acc`` and, for each
            data set given, ``val_acc`` / ``val_loss`` and ``test_acc`` / ``test_loss``
            (:func:`lava_nt.training.evaluate`).
        stopped_early: True when the patience ran out before ``epochs``.
        best_loss: the selected epoch's loss on the selection set (None for ``"last"``).
    """

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
