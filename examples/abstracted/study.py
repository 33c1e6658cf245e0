"""The Table 1 comparison of the thesis' chapter 3 (section 4.1), at the size of the bundled data.

A 5-layer ReLU MLP ``784-392-196-98-49-10`` (log-softmax + negative log likelihood) is trained
with Adam (lr 1e-4), batch 64, 10 epochs, in three variants (:data:`VARIANTS`):

* ``baseline``: plain backpropagation;
* ``derived``: the three middle layers (0-based layers 1..3: block input 392-d, output 49-d) are
  abstracted by the derived ``M`` (eq. 5, least squares over the batch,
  :func:`lava_nt.training.abstracted.derived_matrix`);
* ``identity``: the same block abstracted by the block identity ``[I 0]`` (the 49-d gradient
  zero-padded to 392).

The test accuracy of a run is the maximum over its epochs, as the thesis states for Table 1 (an
optimistic protocol: the test set chooses the epoch; the report says so). Data: the MNIST subset
of the image example (:func:`lava_nt.examples.images.data.load_mnist`: 5,000 images, the first
4,000 after its seeded shuffle for training, the next 1,000 for testing) and scikit-learn's
1,797 digits resized to 28x28 by the same module
(:func:`~lava_nt.examples.images.data.load_digits28`: 1,437 for training, 360 for testing);
grey levels in [0, 1]. A seed sets the initial weights and the batch order; the split is the same
for every seed.

The cost per step (forward, backward and Adam step, in milliseconds, one torch thread) is measured
by :func:`step_costs` before the runs: rounds of one step per variant on the same batch, the
order rotating, so that the shared machine's changing load meets all variants alike; the median
is reported, and its ratio to the baseline's (``cost.csv``).

``run(out, settings)`` writes ``cost.csv``, ``results.csv`` (one row per dataset, variant and seed:
the best test accuracy, its epoch, every epoch's test accuracy and the run's own mean step time),
``meta.json``
(settings, versions) and the report (:func:`.report.write_report`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from lava_nt.examples.images import data as image_data
from lava_nt.io import atomic_write_text
from lava_nt.training.abstracted import abstract_block

from .report import THESIS_MNIST, VARIANTS, write_csv, write_report

__all__ = ["BLOCK", "DATASETS", "FULL", "MLP", "QUICK", "SIZES", "THESIS_MNIST", "VARIANTS", "run"]

SIZES = (784, 392, 196, 98, 49, 10)
BLOCK = (1, 3)  # 0-based layers abstracted: 392 -> 196 -> 98 -> 49
DATASETS = ("mnist", "digits")

FULL = {"datasets": DATASETS, "seeds": (0, 1, 2, 3, 4), "epochs": 10, "batch_size": 64,
        "lr": 1e-4, "cost_rounds": 300}  # fmt: skip
QUICK = dict(FULL, seeds=(0, 1), epochs=2, cost_rounds=20)


class MLP(torch.nn.Module):
    """ReLU MLP of ``sizes``; the last layer's output goes through log-softmax."""

    def __init__(self, sizes=SIZES):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )

    def _span(self, s, start: int, stop: int):
        last = len(self.layers) - 1
        for k in range(start, stop):
            s = self.layers[k](s)
            s = torch.relu(s) if k < last else s
        return s

    def forward(self, x, block: tuple[int, int] | None = None, matrix: str = "derived"):
        """Log-probabilities; with ``block = (first, last)`` that block is abstracted by
        ``matrix`` (:func:`lava_nt.training.abstracted.abstract_block`)."""
        if block is None:
            return torch.log_softmax(self._span(x, 0, len(self.layers)), -1)
        first, last = block
        s = self._span(x, 0, first)
        s = abstract_block(s, lambda v: self._span(v, first, last + 1), matrix)
        return torch.log_softmax(self._span(s, last + 1, len(self.layers)), -1)


def load(dataset: str):
    """``(train (x, y), test (x, y))`` float32 / int64 tensors of a dataset in :data:`DATASETS`."""
    if dataset == "mnist":
        x, y = image_data.load_mnist(seed=0)
        n_train, n_test = 4000, 1000
    elif dataset == "digits":
        x, y = image_data.load_digits28(seed=0)
        n_train, n_test = 1437, 360
    else:
        raise ValueError(f"unknown dataset {dataset!r}; datasets: {DATASETS}")
    tr, te = image_data.split(x, y, n_train, n_test)
    return tuple(tuple(torch.as_tensor(a) for a in part) for part in (tr, te))


@torch.no_grad()
def accuracy(model: MLP, x, y) -> float:
    return float((model(x).argmax(-1) == y).float().mean())


def _step(model: MLP, opt, xb, yb, variant: str) -> None:
    """One training step (forward, backward, Adam) of a variant."""
    block = None if variant == "baseline" else BLOCK
    matrix = "derived" if variant == "baseline" else variant
    opt.zero_grad(set_to_none=True)
    torch.nn.functional.nll_loss(model(xb, block, matrix), yb).backward()
    opt.step()


def step_costs(train, cfg: dict, rounds: int, seed: int = 0) -> dict:
    """``{variant: [step seconds]}``: ``rounds`` rounds of one step per variant on the same
    random batch, the variants' order rotating each round, so that a change of the machine's
    load meets every variant alike (the timing of record; the runs' own step times follow the
    load of their moment)."""
    x, y = train
    gen = torch.Generator().manual_seed(seed)
    nets = {}
    for v in VARIANTS:
        torch.manual_seed(seed)
        m = MLP()
        nets[v] = (m, torch.optim.Adam(m.parameters(), lr=cfg["lr"]))
    times = {v: [] for v in VARIANTS}
    for r in range(rounds):
        idx = torch.randint(0, len(y), (cfg["batch_size"],), generator=gen)
        for v in VARIANTS[r % 3 :] + VARIANTS[: r % 3]:
            t0 = time.perf_counter()
            _step(*nets[v], x[idx], y[idx], v)
            times[v].append(time.perf_counter() - t0)
    return times


def train_one(train, test, variant: str, seed: int, cfg: dict) -> dict:
    """One run: the test accuracy after every epoch, the best one and the mean step time."""
    torch.manual_seed(seed)
    model = MLP()
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    gen = torch.Generator().manual_seed(seed)
    x, y = train
    accs, step_s, steps = [], 0.0, 0
    for _ in range(cfg["epochs"]):
        perm = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), cfg["batch_size"]):
            idx = perm[i : i + cfg["batch_size"]]
            t0 = time.perf_counter()
            _step(model, opt, x[idx], y[idx], variant)
            step_s += time.perf_counter() - t0
            steps += 1
        accs.append(accuracy(model, *test))
    best = int(np.argmax(accs))  # the first epoch with the maximum
    return {"acc": accs[best], "best_epoch": best, "epoch_accs": " ".join(map(str, accs)),
            "ms_per_step": 1e3 * step_s / steps, "steps": steps}  # fmt: skip


def run(out, settings: dict | None = None, quick: bool = False, log=print) -> list[dict]:
    """Run the study into ``out`` (see the module docstring); returns the result rows."""
    cfg = dict(QUICK if quick else FULL, **(settings or {}))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # comparable step times on a shared machine
    rows, costs = [], []
    try:
        for dataset in cfg["datasets"]:
            train, test = load(dataset)
            for v, ts in step_costs(train, cfg, cfg["cost_rounds"]).items():
                q1, med, q3 = np.percentile(1e3 * np.asarray(ts), [25, 50, 75])
                costs.append({"dataset": dataset, "variant": v, "median_ms": med, "q1_ms": q1,
                              "q3_ms": q3, "rounds": len(ts)})  # fmt: skip
            write_csv(out / "cost.csv", costs)
            for seed in cfg["seeds"]:
                for variant in VARIANTS:
                    r = train_one(train, test, variant, seed, cfg)
                    rows.append({"dataset": dataset, "variant": variant, "seed": seed, **r})
                    log(f"{dataset} {variant} seed {seed}: test accuracy {r['acc']:.4f} "
                        f"(epoch {r['best_epoch']}), {r['ms_per_step']:.2f} ms/step")  # fmt: skip
                    write_csv(out / "results.csv", rows)
    finally:
        torch.set_num_threads(threads)
    meta = {"settings": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
            "sizes": list(SIZES), "block": list(BLOCK), "torch": torch.__version__,
            "threads": 1, "quick": quick}  # fmt: skip
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=1) + "\n")
    write_report(out)
    return rows
