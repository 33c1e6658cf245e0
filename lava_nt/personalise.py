"""Batched personalisation: tune K independent NT parameter sets (one per person) in one pass
against the shared frozen weights.

The tuned tensors (biases, gains, ``w_b``, ``alpha``) are expanded to ``[K, 1, n]`` and the batch
is laid out ``[K, B, n_in]``: person k's samples only meet person k's parameters. The loss is the
sum of the K per-person losses, each exactly the loss of a separate run, so each set receives
exactly its own gradient; Adam is element-wise, so the K updates equal K separate runs (a test
compares them). Every person's batches are shuffled by a generator seeded like a solo run's.

Requirements: weights (and spiking-bias input matrices) must be frozen (they are shared), and
all persons must have the same number of training samples (so every step updates every set, as
a separate run would). Validation sets may differ in size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from lava_nt.nn.network import NTNetwork
from lava_nt.spec.validation import ParameterError
from lava_nt.training import TrainConfig, check_data, population_counts


@dataclass
class PersonResult:
    best_epoch: int
    best_metric: float
    history: list[dict] = field(default_factory=list)


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


def _person_tensors(net: NTNetwork) -> dict[str, torch.Tensor]:
    return {n: p for n, p in net.named_parameters() if p.requires_grad}


def _batched_loss(net, x, y, cfg: TrainConfig, valid: torch.Tensor | None = None):
    """Per-person losses ``[K]`` and counts ``[K, B, classes]`` for ``x [K, B, n_in]``."""
    out, recs = net.forward_static(x, cfg.T, record=True) if x.dim() == 3 else (None, None)
    counts = population_counts(out, cfg.n_classes)  # [K, B, C]
    K, B = y.shape
    if valid is None:
        valid = torch.ones(K, B, dtype=torch.bool)
    ce = torch.nn.functional.cross_entropy(
        counts.reshape(K * B, -1), y.reshape(-1), reduction="none"
    ).reshape(K, B)
    nvalid = valid.sum(1).clamp(min=1)
    loss = (ce * valid).sum(1) / nvalid
    if cfg.loss == "mse":
        raise ParameterError("personalise_batched: only loss='ce' is supported")
    if cfg.spike_l1 > 0:
        rates = torch.stack([r["spikes"].abs().mean(dim=(0, 2, 3)) for r in recs])  # [L, K]
        loss = loss + cfg.spike_l1 * rates.mean(0)
    return loss, counts


def _pad(datasets, K):
    """Stack per-person static data into ``[K, Bmax, n_in]`` with a validity mask."""
    bmax = max(len(y) for _, y in datasets)
    n_in = datasets[0][0].shape[-1]
    x = torch.zeros(K, bmax, n_in, dtype=datasets[0][0].dtype)
    y = torch.zeros(K, bmax, dtype=torch.long)
    valid = torch.zeros(K, bmax, dtype=torch.bool)
    for k, (xk, yk) in enumerate(datasets):
        x[k, : len(yk)] = xk
        y[k, : len(yk)] = yk
        valid[k, : len(yk)] = True
    return x, y, valid


@torch.no_grad()
def evaluate_batched(net, datasets, cfg: TrainConfig) -> list[float]:
    """Accuracy per person (datasets may differ in size)."""
    x, y, valid = _pad(datasets, len(datasets))
    _, counts = _batched_loss(net, x, y, cfg, valid)
    correct = ((counts.argmax(-1) == y) & valid).sum(1)
    return (correct / valid.sum(1).clamp(min=1)).tolist()


def personalise_batched(
    net: NTNetwork,
    train_sets: list[tuple[torch.Tensor, torch.Tensor]],
    cfg: TrainConfig,
    val_sets: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> list[PersonResult]:
    """Tune one parameter set per person, all in one pass (static inputs ``[B, n_in]``).

    ``net`` must already carry the NT method (e.g. ``apply_tuning(net, "nt2")``) with plain
    ``(n,)`` parameters; they are expanded to ``[K, 1, n]`` here. Afterwards set ``k`` holds
    person k's selected epoch (best validation accuracy, or the last epoch with
    ``cfg.select == "last"``); ``net.to_spec(k=k)`` exports it.
    """
    K = len(train_sets)
    if K == 0:
        raise ParameterError("personalise_batched: no persons given")
    _check_shared_frozen(net)
    if cfg.select == "test":
        raise ParameterError("personalise_batched: select='test' is not supported; use 'val'")
    if cfg.select == "val" and (val_sets is None or len(val_sets) != K):
        raise ParameterError(
            "personalise_batched: select='val' needs one validation set per person"
        )
    for k, (x, y) in enumerate(train_sets):
        check_data(x, y, net.n_in, cfg.n_classes, f"person {k} train data")
        if x.dim() != 2:
            raise ParameterError("personalise_batched: inputs must be static [B, n_in]")
    for k, (x, y) in enumerate(val_sets or []):
        check_data(x, y, net.n_in, cfg.n_classes, f"person {k} validation data")
    sizes = {len(y) for _, y in train_sets}
    if len(sizes) != 1:
        raise ParameterError(
            f"personalise_batched: persons have different training-set sizes {sorted(sizes)}; "
            "every step must update every person as a separate run would"
        )
    n = sizes.pop()
    net.expand_parameters(K)
    params = _person_tensors(net)
    if not params:
        raise ParameterError("personalise_batched: nothing is trainable (apply an NT method)")
    torch.manual_seed(cfg.seed)
    gens = [torch.Generator().manual_seed(cfg.seed) for _ in range(K)]
    opt = torch.optim.Adam(params.values(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    results = [PersonResult(-1, -math.inf) for _ in range(K)]
    best = {name: p.detach().clone() for name, p in params.items()}
    bad = [0] * K
    xs = torch.stack([x for x, _ in train_sets])  # [K, n, n_in]
    ys = torch.stack([y for _, y in train_sets]).long()
    epochs = range(cfg.epochs)
    if cfg.progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc=f"personalise x{K}", leave=False)
    for epoch in epochs:
        net.train()
        perms = torch.stack([torch.randperm(n, generator=g) for g in gens])  # [K, n]
        tot = torch.zeros(K)
        correct = torch.zeros(K)
        for i in range(0, n, cfg.batch_size):
            idx = perms[:, i : i + cfg.batch_size]
            xb = torch.gather(xs, 1, idx[..., None].expand(-1, -1, xs.shape[-1]))
            yb = torch.gather(ys, 1, idx)
            opt.zero_grad(set_to_none=True)
            loss, counts = _batched_loss(net, xb, yb, cfg)
            loss.sum().backward()
            opt.step()
            tot += loss.detach() * idx.shape[1]
            correct += (counts.argmax(-1) == yb).sum(1)
        val_acc = evaluate_batched(net, val_sets, cfg) if val_sets else [None] * K
        for k in range(K):
            row = {
                "epoch": epoch,
                "train_loss": float(tot[k]) / n,
                "train_acc": float(correct[k]) / n,
            }
            if val_acc[k] is not None:
                row["val_acc"] = val_acc[k]
            results[k].history.append(row)
            metric = epoch if cfg.select == "last" else val_acc[k]
            if metric > results[k].best_metric:
                results[k].best_epoch, results[k].best_metric = epoch, float(metric)
                bad[k] = 0
                for name, p in params.items():
                    best[name][k] = p.detach()[k]
            else:
                bad[k] += 1
        if cfg.patience is not None and all(b >= cfg.patience for b in bad):
            break
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(best[name])
    return results
