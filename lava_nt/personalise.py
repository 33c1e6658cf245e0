"""Batched personalisation: tune K independent NT parameter sets (one per person) in one run
against the shared frozen weights.

The tuned tensors (biases, gains, ``w_b``, ``c_retention``) are expanded to ``[K, 1, n]`` and the
batch is laid out ``[K, B, n_in]``: person k's samples only meet person k's parameters. The loss is
the sum of the K per-person losses, each exactly the loss of a separate run, so each set receives
exactly its own gradient; Adam is element-wise, so the K updates equal K separate runs (tests
compare them). Every person's batches are shuffled by a generator seeded like a solo run's, and
model selection, patience and gradient clipping are applied per person exactly as
:func:`lava_nt.training.train` applies them to one run.

Speed (``benchmarks/bench_personalise.py``):

* **fused**: by default the forward/backward runs through
  :class:`~lava_nt.nn.fused.FusedNTNetwork` (one autograd node per layer; same function and
  gradients as ``NTNetwork``, to float rounding).
* **person groups**: the persons are processed in groups of ``group`` persons per forward/backward
  pass (gradients accumulate; one Adam step for everybody). A person's gradient depends only on
  its own samples, so grouping changes nothing but speed. It matters: the per-layer tensors are
  ``[T, group * B, n]``; once they outgrow the caches (and glibc's 32 MB mmap threshold, above
  which every allocation is fresh, page-faulted memory) a pass gets slower *per sample* than a
  smaller one. The default group keeps them near ``GROUP_ELEMENTS`` elements (16 MB in float32;
  6 persons x batch 32 on the EEG network with T = 25): on the 2-core reference machine 2-8
  persons per pass were within ~10 % of each other, all 32 in one pass ~1.5x slower per sample.
  Even the best pass size gains little over one person per pass there (most of an iteration's
  time scales with the samples: the FLOPs per sample are the same); see the benchmark.
* persons whose patience ran out are no longer computed (unless they share a group with active
  ones), and validation runs for all persons of a group in one pass.

Requirements: weights (and spiking-bias input matrices) must be frozen (they are shared), and
all persons must have the same number of training samples (so every step updates every set, as
a separate run would). Validation sets may differ in size.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from lava_nt.decode import predict
from lava_nt.device import module_device, resolve_device
from lava_nt.nn.fused import FusedNTNetwork
from lava_nt.nn.network import NTNetwork
from lava_nt.nn.sparse_grad import sparse_gradients
from lava_nt.spec.validation import ParameterError
from lava_nt.training import TrainConfig, check_data, for_model, is_better, population_counts

__all__ = [
    "GROUP_ELEMENTS",
    "PersonResult",
    "default_group",
    "evaluate_batched",
    "is_better",  # the trainer's model-selection rule (lava_nt.training.is_better), re-exported
    "personalise_batched",
]

# elements of one [T, persons x batch, n] layer tensor a pass aims at (see the module docstring)
GROUP_ELEMENTS = 1 << 22


@dataclass
class PersonResult:
    """One person's run, as :class:`lava_nt.training.TrainResult`: ``best_epoch`` /
    ``best_metric`` (validation accuracy, or the epoch for ``select="last"``), ``best_loss`` (its
    validation loss; None for ``"last"``), one ``history`` row per epoch the person ran, and
    ``stopped_early`` (patience ran out)."""

    best_epoch: int
    best_metric: float
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False
    best_loss: float | None = None


def _check_shared_frozen(net: NTNetwork) -> None:
    for i, layer in enumerate(net.layers):
        if layer.linear.weight.requires_grad:
            raise ParameterError(
                f"personalise_batched: layer {i} weights are trainable; batched personalisation "
                "shares the frozen weights (apply an NT method first)"
            )
        sb = layer.spiking_bias
        if sb is not None and sb.w_in.requires_grad:
            raise ParameterError(
                f"personalise_batched: layer {i} spiking-bias input matrix is trainable and "
                "would be shared across persons; tune persons separately for that method"
            )


def _person_tensors(net) -> dict[str, torch.Tensor]:
    return {n: p for n, p in net.named_parameters() if p.requires_grad}


def _cross_entropy(counts: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every sample ``[K, B]`` from counts ``[K, B, C]`` and labels ``[K, B]``."""
    K, B = y.shape
    return torch.nn.functional.cross_entropy(
        counts.reshape(K * B, -1), y.reshape(-1), reduction="none"
    ).reshape(K, B)


def _batched_loss(net, x, y, cfg: TrainConfig):
    """Per-person training losses ``[K]`` and counts ``[K, B, classes]`` for ``x [K, B, n_in]``:
    person k's loss is exactly :func:`lava_nt.training.loss_and_counts` of a solo run on its
    ``B`` samples (cross-entropy on the population counts + ``spike_l1`` x mean spike rate)."""
    cfg = for_model(cfg, net, "personalise_batched")
    out, recs = net.forward_static(x, cfg.T, record=True)
    counts = population_counts(out, cfg.n_classes)  # [K, B, C]
    loss = _cross_entropy(counts, y).mean(1)
    if cfg.spike_l1 > 0:
        # the trainer's ``s.abs().mean()`` per person: for 0/1 spikes ``s * s.detach()`` has the
        # same value and the same gradient (sgn(s) = s) in two passes over ``s`` instead of three
        spikes = [r["spikes"] for r in recs]
        rates = torch.stack([(s * s.detach()).mean(dim=(0, 2, 3)) for s in spikes])
        loss = loss + cfg.spike_l1 * rates.mean(0)  # rates: [L, K]
    return loss, counts


def _pad(datasets):
    """Stack per-person static data into ``[K, Bmax, n_in]`` with a validity mask."""
    bmax = max(len(y) for _, y in datasets)
    n_in = datasets[0][0].shape[-1]
    K = len(datasets)
    dev = datasets[0][0].device
    x = torch.zeros(K, bmax, n_in, dtype=datasets[0][0].dtype, device=dev)
    y = torch.zeros(K, bmax, dtype=torch.long, device=dev)
    valid = torch.zeros(K, bmax, dtype=torch.bool, device=dev)
    for k, (xk, yk) in enumerate(datasets):
        x[k, : len(yk)] = xk
        y[k, : len(yk)] = yk
        valid[k, : len(yk)] = True
    return x, y, valid


def _max_width(net) -> int:
    return max(layer.n for layer in net.layers)


@torch.no_grad()
def _evaluate(model, datasets, cfg: TrainConfig, max_samples: int | None = None) -> list[dict]:
    """``{"acc", "loss"}`` per person for a model with ``len(datasets)`` parameter sets, the
    definitions of :func:`lava_nt.training.evaluate` (mean cross-entropy over the person's
    samples + ``spike_l1`` x its mean spike rate over layers). Padding is masked out; the samples
    are processed ``max_samples`` (all persons together) per pass."""
    cfg = for_model(cfg, model, "evaluate_batched")
    x, y, valid = _pad(datasets)
    K, bmax = y.shape
    step = bmax if max_samples is None else max(1, max_samples // K)
    nvalid = valid.sum(1)
    correct = torch.zeros(K, dtype=torch.long, device=x.device)
    ce_sum = torch.zeros(K, dtype=torch.float64, device=x.device)
    spikes = None  # [L, K] spike sums over valid samples
    was_training = model.training
    model.eval()
    try:
        for j in range(0, bmax, step):
            xb, yb, vb = x[:, j : j + step], y[:, j : j + step], valid[:, j : j + step]
            out, recs = model.forward_static(xb, cfg.T, record=True)
            counts = population_counts(out, cfg.n_classes)  # [K, b, C]
            ce_sum += (_cross_entropy(counts, yb).double() * vb).sum(1)
            correct += ((predict(counts) == yb) & vb).sum(1)
            if cfg.spike_l1 > 0:
                s = torch.stack(
                    [
                        (r["spikes"].sum(dim=(0, 3)).double() * vb).sum(1) for r in recs
                    ]  # spikes >= 0
                )
                spikes = s if spikes is None else spikes + s
    finally:
        model.train(was_training)
    n = nvalid.clamp(min=1).double()
    loss = ce_sum / n
    if spikes is not None:
        widths = torch.tensor(
            [layer.n for layer in model.layers], dtype=torch.float64, device=spikes.device
        )
        rates = spikes / (n * cfg.T * widths[:, None])  # [L, K]
        loss = loss + cfg.spike_l1 * rates.mean(0)
    out = []
    for k in range(K):
        if nvalid[k] == 0:
            out.append({"acc": math.nan, "loss": math.nan})
        else:
            out.append({"acc": float(correct[k]) / float(nvalid[k]), "loss": float(loss[k])})
    return out


def evaluate_batched(net, datasets, cfg: TrainConfig) -> list[dict]:
    """Accuracy and loss per person (``[{"acc", "loss"}, ...]``, the definitions of
    :func:`lava_nt.training.evaluate`) of a network with ``len(datasets)`` parameter sets
    (``expand_parameters``); the data sets may differ in size."""
    if not datasets:
        return []
    budget = max(1, GROUP_ELEMENTS // (cfg.T * _max_width(net)))
    return _evaluate(net, datasets, cfg, max_samples=budget)


def default_group(net, cfg: TrainConfig) -> int:
    """Persons per forward/backward pass: ``[T, group * batch, widest layer]`` holds about
    ``GROUP_ELEMENTS`` elements (at least 1 person)."""
    per_person = cfg.T * cfg.batch_size * _max_width(net)
    return max(1, GROUP_ELEMENTS // per_person)


def _split(K: int, group: int) -> list[tuple[int, int]]:
    """``K`` persons in ``ceil(K / group)`` contiguous groups of (nearly) equal size."""
    n = -(-K // group)
    bounds = [round(i * K / n) for i in range(n + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _resolve_fused(net, fused: bool | None):
    """``(base NTNetwork, use the fused path)``."""
    if isinstance(net, FusedNTNetwork):
        return net.net, fused is not False
    if not isinstance(net, NTNetwork):
        raise ParameterError("personalise_batched: expected an NTNetwork or a FusedNTNetwork")
    if fused is False:
        return net, False
    try:
        FusedNTNetwork(net)
    except ParameterError:
        if fused:
            raise
        return net, False  # custom surrogate or trainable du/dv/vth: the plain path
    return net, True


def _clip_per_person(params: list[torch.Tensor], max_norm: float) -> None:
    """``torch.nn.utils.clip_grad_norm_`` separately for every parameter set (dim 0)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), 2, dim=1) for g in grads])
    total = torch.linalg.vector_norm(norms, 2, dim=0)  # [k]
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))).to(g.dtype))


def personalise_batched(
    net: NTNetwork | FusedNTNetwork,
    train_sets: list[tuple[torch.Tensor, torch.Tensor]],
    cfg: TrainConfig,
    val_sets: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    *,
    fused: bool | None = None,
    group: int | None = None,
    sparse_grad: float | None = None,
) -> list[PersonResult]:
    """Tune one parameter set per person, all in one run (static inputs ``[B, n_in]``).

    ``net`` (an :class:`NTNetwork`, or a :class:`~lava_nt.nn.fused.FusedNTNetwork` wrapping one)
    must already carry the NT method (e.g. ``apply_tuning(net, "nt2")``) with plain ``(n,)``
    parameters; the network is expanded to ``[K, 1, n]`` here. Afterwards set ``k`` holds person
    k's selected epoch (the trainer's rule :func:`lava_nt.training.is_better`: best validation
    accuracy, ties to the lower validation loss, which also resets the patience counter; or the
    last epoch with ``cfg.select == "last"``); ``net.to_spec(k=k)`` exports it. Each person's
    result equals a separate :func:`lava_nt.training.train` run with the same ``cfg`` to float
    rounding (tests, float64: parameters within 1e-9 on the plain path, 1e-8 on the fused path,
    after a few epochs).

    ``fused``: None (default) runs through ``FusedNTNetwork`` when the network supports it
    (built-in surrogate, fixed ``du``/``dv``/``vth``), else the plain ``NTNetwork``; True
    requires the fused path, False forces the plain one. ``group``: persons per
    forward/backward pass (default :func:`default_group`; any value gives the same result).
    ``cfg.lr`` None (the default) is :data:`lava_nt.training.TUNE_LR` (1e-2; the weights are
    frozen) and ``cfg.n_classes`` None takes the network's class count.
    ``cfg.compile`` is not used (eager). ``cfg.device`` moves the network and the data there for
    the run and the network back afterwards (:func:`lava_nt.device.resolve_device`).
    ``sparse_grad``: the band ``B_th`` of sparse spiking gradient descent during the run
    (:func:`lava_nt.nn.sparse_grad.sparse_gradients`; None: ``cfg.sparse_grad``, whose default
    None is the dense surrogate gradient; a value that differs from a set ``cfg.sparse_grad`` is
    an error).
    """
    if sparse_grad is None:
        sparse_grad = cfg.sparse_grad
    elif cfg.sparse_grad is not None and sparse_grad != cfg.sparse_grad:
        raise ParameterError(
            f"personalise_batched: sparse_grad={sparse_grad!r} differs from "
            f"TrainConfig(sparse_grad={cfg.sparse_grad!r}); give it once"
        )
    with sparse_gradients(net, sparse_grad):
        return _personalise_on_device(net, train_sets, cfg, val_sets, fused, group)


def _personalise_on_device(net, train_sets, cfg: TrainConfig, val_sets, fused, group):
    """:func:`personalise_batched` on ``cfg.device`` (the network moved there and back)."""
    device = resolve_device(cfg.device, "personalise_batched: device")
    home = module_device(net)
    if device == home:
        return _personalise_batched(net, train_sets, cfg, val_sets, fused, group)

    def to(sets):
        return None if sets is None else [(x.to(device), y.to(device)) for x, y in sets]

    net.to(device)
    try:
        return _personalise_batched(net, to(train_sets), cfg, to(val_sets), fused, group)
    finally:
        net.to(home)


def _check_batched_config(cfg: TrainConfig, val_sets, K: int) -> None:
    """The run settings batched personalisation supports (errors name the setting)."""
    if cfg.loss != "ce":
        raise ParameterError("personalise_batched: only loss='ce' is supported")
    if cfg.select == "test":
        raise ParameterError("personalise_batched: select='test' is not supported; use 'val'")
    if cfg.select == "val" and (val_sets is None or len(val_sets) != K):
        raise ParameterError(
            "personalise_batched: select='val' needs one validation set per person"
        )
    if val_sets is not None and len(val_sets) != K:
        raise ParameterError("personalise_batched: give one validation set per person")


def _check_person_sets(base, sets, cfg: TrainConfig, what: str) -> None:
    """Every person's static ``[B, n_in]`` data set ``what`` ("train", "validation")."""
    for k, (x, y) in enumerate(sets):
        check_data(x, y, base.n_in, cfg.n_classes, f"person {k} {what} data")
        if x.dim() != 2:
            raise ParameterError("personalise_batched: inputs must be static [B, n_in]")


def _check_batched_inputs(base, train_sets, cfg: TrainConfig, val_sets, group) -> int:
    """Validate the persons' data, the trainable tensors and ``group``; the (common)
    number of training samples per person."""
    _check_batched_config(cfg, val_sets, len(train_sets))
    _check_person_sets(base, train_sets, cfg, "train")
    _check_person_sets(base, val_sets or [], cfg, "validation")
    sizes = {len(y) for _, y in train_sets}
    if len(sizes) != 1:
        raise ParameterError(
            f"personalise_batched: persons have different training-set sizes {sorted(sizes)}; "
            "every step must update every person as a separate run would"
        )
    if not _person_tensors(base):
        raise ParameterError("personalise_batched: nothing is trainable (apply an NT method)")
    if group is not None and (isinstance(group, bool) or not isinstance(group, int) or group < 1):
        raise ParameterError(f"personalise_batched: 'group' must be a positive int, got {group!r}")
    return sizes.pop()


def _group_models(base, groups, K: int, use_fused: bool):
    """One model per group of persons: the network itself when one group holds everybody,
    otherwise copies (frozen weights copied, parameters expanded to the group's size).
    ``(models, trainable tensors per group)``."""
    if len(groups) == 1:
        bases = [base.expand_parameters(K)]
    else:
        bases = [copy.deepcopy(base).expand_parameters(hi - lo) for lo, hi in groups]
    models = [FusedNTNetwork(b) if use_fused else b for b in bases]
    return models, [_person_tensors(b) for b in bases]


def _train_epoch(models, params, groups, run, perms, xs, ys, n, opt, cfg: TrainConfig):
    """One epoch of the groups marked in ``run`` over the batch orders ``perms [K, n]``:
    the per-person summed training losses (float64) and correct counts ``[K]``."""
    K = len(perms)
    tot = torch.zeros(K, dtype=torch.float64, device=xs.device)
    correct = torch.zeros(K, dtype=torch.long, device=xs.device)
    for m, r in zip(models, run, strict=True):
        if r:
            m.train()
    for i in range(0, n, cfg.batch_size):
        idx = perms[:, i : i + cfg.batch_size]
        opt.zero_grad(set_to_none=True)
        for g, (lo, hi) in enumerate(groups):
            if not run[g]:
                continue
            gi = idx[lo:hi]
            xb = torch.gather(xs[lo:hi], 1, gi[..., None].expand(-1, -1, xs.shape[-1]))
            yb = torch.gather(ys[lo:hi], 1, gi)
            loss, counts = _batched_loss(models[g], xb, yb, cfg)
            loss.sum().backward()
            tot[lo:hi] += loss.detach().double() * gi.shape[1]
            correct[lo:hi] += (predict(counts) == yb).sum(1)
        if cfg.max_grad_norm is not None:
            for g, ps in enumerate(params):
                if run[g]:
                    _clip_per_person(list(ps.values()), cfg.max_grad_norm)
        opt.step()
        for g, m in enumerate(models):
            if run[g] and hasattr(m, "after_step"):
                m.after_step()
    return tot, correct


def _validate_groups(models, groups, run, val_groups, K: int, cfg: TrainConfig) -> list:
    """``{"acc", "loss"}`` per person of the groups that ran (None elsewhere / no validation)."""
    val = [None] * K
    if val_groups is not None:
        for g, (lo, hi) in enumerate(groups):
            if run[g]:
                val[lo:hi] = _evaluate(models[g], val_groups[g], cfg)
    return val


@dataclass
class _Selection:
    """Per-person model selection state: the results, the selected tensors ``best`` (all
    persons stacked on dim 0), the epochs without improvement and who is still running."""

    results: list[PersonResult]
    best: dict[str, torch.Tensor]
    bad: list[int]
    active: list[bool]


def _select_person(sel: _Selection, k: int, row: dict, group_params, k_in_group, cfg) -> None:
    """Record person ``k``'s epoch ``row`` and apply the trainer's selection and patience."""
    epoch = row["epoch"]
    res = sel.results[k]
    res.history.append(row)
    if cfg.select == "last":
        metric, sel_loss = epoch, None
    else:
        metric, sel_loss = row["val_acc"], row["val_loss"]
    if is_better(metric, sel_loss, res.best_metric, res.best_loss):
        res.best_epoch, res.best_metric, res.best_loss = epoch, metric, sel_loss
        sel.bad[k] = 0
        for name, best in sel.best.items():
            best[k] = group_params[name].detach()[k_in_group]
    else:
        sel.bad[k] += 1
    if cfg.patience is not None and sel.bad[k] >= cfg.patience:
        sel.active[k] = False
        res.stopped_early = True


def _record_epoch(sel: _Selection, epoch, groups, params, tot, correct, val, n, cfg) -> None:
    """One history row per still-active person, then selection (:func:`_select_person`)."""
    for g, (lo, hi) in enumerate(groups):
        for k in range(lo, hi):
            if not sel.active[k]:
                continue
            row = {
                "epoch": epoch,
                "train_loss": float(tot[k]) / n,
                "train_acc": float(correct[k]) / n,
            }
            if val[k] is not None:
                row.update(val_acc=val[k]["acc"], val_loss=val[k]["loss"])
            _select_person(sel, k, row, params[g], k - lo, cfg)


def _personalise_batched(net, train_sets, cfg, val_sets, fused, group) -> list[PersonResult]:
    K = len(train_sets)
    if K == 0:
        raise ParameterError("personalise_batched: no persons given")
    base, use_fused = _resolve_fused(net, fused)
    _check_shared_frozen(base)
    # n_classes from the network, lr None -> TUNE_LR (every weight is frozen here)
    cfg = for_model(cfg, base, "personalise_batched")
    n = _check_batched_inputs(base, train_sets, cfg, val_sets, group)
    groups = _split(K, group or default_group(base, cfg))
    models, params = _group_models(base, groups, K, use_fused)
    names = list(params[0])

    torch.manual_seed(cfg.seed)
    gens = [torch.Generator().manual_seed(cfg.seed) for _ in range(K)]
    opt = torch.optim.Adam(
        [p for ps in params for p in ps.values()], lr=cfg.lr, weight_decay=cfg.weight_decay
    )
    sel = _Selection(
        results=[PersonResult(-1, -math.inf, best_loss=math.inf) for _ in range(K)],
        best={name: torch.cat([ps[name].detach() for ps in params]).clone() for name in names},
        bad=[0] * K,
        active=[True] * K,
    )
    xs = torch.stack([x for x, _ in train_sets])  # [K, n, n_in]
    ys = torch.stack([y for _, y in train_sets]).long()
    val_groups = [val_sets[lo:hi] for lo, hi in groups] if val_sets else None
    epochs = range(cfg.epochs)
    if cfg.progress:
        epochs = tqdm(epochs, desc=f"personalise x{K}", leave=False)
    for epoch in epochs:
        run = [any(sel.active[lo:hi]) for lo, hi in groups]
        # batch order from the CPU generators (the same on every device), then moved
        perms = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(xs.device)
        tot, correct = _train_epoch(models, params, groups, run, perms, xs, ys, n, opt, cfg)
        val = _validate_groups(models, groups, run, val_groups, K, cfg)
        _record_epoch(sel, epoch, groups, params, tot, correct, val, n, cfg)
        if not any(sel.active):
            break
    if len(groups) > 1:
        base.expand_parameters(K)
    final = _person_tensors(base)
    with torch.no_grad():
        for name in names:
            final[name].copy_(sel.best[name])
    for res in sel.results:
        res.best_metric = float(res.best_metric)
    return sel.results
