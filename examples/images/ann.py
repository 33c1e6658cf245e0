"""The feed-forward (ANN) half of the study: a two-layer MLP ``784 -> hidden -> 10`` whose every
layer computes ``z = g * (W x + b)`` (ReLU on the hidden layer), exactly the NTLIF layer's input
``g (u + b)``, so that the same tensors initialise the spiking classifiers (:mod:`.snn`).

Tuning methods (:data:`METHODS`, the paper's §3-4; weights frozen except for ``tft``/``readout``):

==============  ==============================================================================
``none``        the pretrained network as it is (same label space, so it has an accuracy)
``readout``     linear readout: only the last layer's ``W`` and ``b`` (a common baseline)
``tft``         traditional fine-tuning: every ``W`` and ``b``
``nt1``         multiplicative gains ``g`` (the paper's bias neurons), init ``U(0, 1)`` as the paper
``nt1_id``      the same with identity init (``g = 1``: starts at the pretrained network)
``nt2``         the existing biases ``b``
``additive``    a new, zero-initialised additive bias on a twin pretrained *without* biases
                (BitFit-style, as :func:`lava_nt.tuning.apply_tuning`'s ``additive_bias``)
==============  ==============================================================================
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from lava_nt.examples.images.selection import train_keeping_best

METHODS = ("none", "readout", "tft", "nt1", "nt1_id", "nt2", "additive")


class MLP(torch.nn.Module):
    """``784 -> hidden -> n_out`` with per-neuron gain ``g`` and bias ``b`` on each layer."""

    def __init__(
        self, n_in: int = 784, hidden: int = 64, n_out: int = 10, bias: bool = True, seed: int = 0
    ):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.has_bias = bool(bias)
        self.W = torch.nn.ParameterList()
        self.b = torch.nn.ParameterList()
        self.g = torch.nn.ParameterList()
        for a, n in ((n_in, hidden), (hidden, n_out)):
            bound = 1.0 / math.sqrt(a)
            self.W.append(
                torch.nn.Parameter(torch.empty(n, a).uniform_(-bound, bound, generator=gen))
            )
            self.b.append(torch.nn.Parameter(torch.zeros(n), requires_grad=self.has_bias))
            self.g.append(torch.nn.Parameter(torch.ones(n), requires_grad=False))

    def preacts(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Pre-activations ``g (W x + b)`` of both layers (hidden before ReLU)."""
        z1 = self.g[0] * (x @ self.W[0].T + self.b[0])
        z2 = self.g[1] * (torch.relu(z1) @ self.W[1].T + self.b[1])
        return [z1, z2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.preacts(x)[1]


def count_trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _fit(
    model, x, y, *, epochs: int, lr: float, batch_size: int, seed: int, val=None
) -> tuple[int, float | None]:
    """Adam on cross-entropy for ``epochs`` epochs. With ``val = (x, y)`` the epoch with the best
    validation accuracy is kept (its parameters restored; a tie keeps the earlier epoch).
    Returns ``(epochs kept, validation accuracy there or None)``."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return 0, None if val is None else accuracy(model, *val)
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n = len(y)

    def run_epoch() -> None:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()

    validate = None if val is None else (lambda: accuracy(model, *val))
    return train_keeping_best(model, epochs, run_epoch, validate)


@torch.no_grad()
def accuracy(model, x, y) -> float:
    return float((model(x).argmax(-1) == y).float().mean())


def pretrain(
    x,
    y,
    *,
    hidden: int = 64,
    bias: bool = True,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> MLP:
    """Train all weights (and biases if ``bias``) of a fresh MLP on the source task."""
    torch.manual_seed(seed)
    model = MLP(x.shape[1], hidden, int(y.max()) + 1, bias=bias, seed=seed)
    _fit(model, x, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    return model


def prepare(pretrained: MLP, method: str, seed: int = 0, gain_range=(0.0, 1.0)) -> MLP:
    """A copy of ``pretrained`` with only ``method``'s tensors trainable."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; methods: {METHODS}")
    if method == "additive" and pretrained.has_bias:
        raise ValueError("'additive' needs the twin pretrained without biases")
    if method != "additive" and not pretrained.has_bias:
        raise ValueError(f"'{method}' needs the network pretrained with biases")
    m = copy.deepcopy(pretrained)
    for p in m.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    if method == "readout":
        m.W[1].requires_grad_(True)
        m.b[1].requires_grad_(True)
    elif method == "tft":
        for p in list(m.W) + list(m.b):
            p.requires_grad_(True)
    elif method in ("nt1", "nt1_id"):
        for g in m.g:
            if method == "nt1":
                with torch.no_grad():
                    g.uniform_(float(gain_range[0]), float(gain_range[1]), generator=gen)
            g.requires_grad_(True)
    elif method in ("nt2", "additive"):
        for b in m.b:
            with torch.no_grad():
                if method == "additive":
                    b.zero_()
            b.requires_grad_(True)
    return m


def tune(
    pretrained: MLP,
    method: str,
    train,
    test,
    *,
    lr: float,
    epochs: int = 10,
    batch_size: int = 64,
    seed: int = 0,
    val=None,
) -> dict:
    """Tune a copy of ``pretrained`` with ``method``; returns the test accuracy, trainable
    count and model. With ``val`` the epoch is chosen on it (``epochs`` is then the most that
    run) and ``val_acc`` / ``epochs`` say what was kept."""
    torch.manual_seed(seed)
    m = prepare(pretrained, method, seed)
    n_par = count_trainable(m)
    before = [w.detach().clone() for w in m.W]
    kept, val_acc = _fit(m, *train, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, val=val)
    frozen = all(torch.equal(a, b) for a, b in zip(before, m.W, strict=True))
    return {
        "acc": accuracy(m, *test),
        "train_acc": accuracy(m, *train),
        "val_acc": val_acc,
        "epochs": kept,
        "params": n_par,
        "weights_frozen": frozen,
        "model": m,
    }


def to_tensors(x: np.ndarray, y: np.ndarray):
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)
