"""Baselines of the EEG study beside the NT methods, built on the public tuning API.

* ``readout`` (readout-only retraining): :func:`lava_nt.tuning.apply_tuning` ``"tft"`` restricted
  to the output layer: its 800 x 100 weights and 100 biases are trained, everything before it is
  frozen (80,100 parameters).
* ``lora``: a LoRA-style low-rank adapter on frozen weights (:class:`LoRALinear`): layer ``l``
  computes ``W x + B (A x)`` with ``A`` ``[rank, n_in]`` (uniform in +-1/sqrt(n_in), seeded) and
  ``B`` ``[n, rank]`` (zeros, so tuning starts at the pretrained network); only ``A`` and ``B``
  are trained. The EEG method uses rank 1 on the 400 -> 800 layer: 400 + 800 = 1,200 trainable
  parameters, between volumetric tuning (1,000) and the per-neuron NT methods (1,300)
  (:func:`lora_parameters` counts any choice). After tuning, :func:`merge_adapters` folds
  ``B A`` into ``W`` so the tuned model is a plain :class:`~lava_nt.nn.network.NTNetwork`
  (model file, Lava deployment and fixed point as for every other method).
* ``logreg``: per-person L2 logistic regression (scikit-learn, lbfgs) on the same binary inputs
  (160 weights + intercept), the regularisation strength chosen on the validation part (honest
  protocol; ties go to the lower validation log-loss), on the test part (thesis protocol, as its
  epoch choice) or fixed at ``C = 1`` without either (:func:`logistic_regression`). It is not a
  spiking network and is not deployed on Lava.

:func:`apply_method` applies any method of :data:`lava_nt.examples.eeg.pipeline.METHODS`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lava_nt.spec.validation import ParameterError
from lava_nt.tuning import apply_tuning, count_trainable, freeze

__all__ = [
    "LOGREG_C",
    "LoRALinear",
    "LogRegResult",
    "apply_lora",
    "apply_method",
    "logistic_regression",
    "lora_parameters",
    "merge_adapters",
]

LOGREG_C = (0.01, 0.1, 1.0, 10.0)


class LoRALinear(torch.nn.Linear):
    """``x -> x W^T + (x A^T) B^T``: frozen ``weight`` plus a trainable rank-``rank`` update."""

    def __init__(self, base: torch.nn.Linear, rank: int, generator: torch.Generator):
        n, n_in = base.weight.shape
        w = base.weight
        super().__init__(n_in, n, bias=False, dtype=w.dtype, device=w.device)
        with torch.no_grad():
            self.weight.copy_(w)
        self.weight.requires_grad_(False)
        bound = 1.0 / math.sqrt(n_in)
        a = torch.empty(rank, n_in, dtype=torch.float64)
        a.uniform_(-bound, bound, generator=generator)
        self.lora_a = torch.nn.Parameter(a.to(dtype=w.dtype, device=w.device))
        self.lora_b = torch.nn.Parameter(torch.zeros(n, rank, dtype=w.dtype, device=w.device))
        self.rank = int(rank)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = torch.nn.functional
        return f.linear(x, self.weight) + f.linear(f.linear(x, self.lora_a), self.lora_b)

    def merged_weight(self) -> torch.Tensor:
        return (self.weight + self.lora_b @ self.lora_a).detach()


def lora_parameters(sizes: Sequence[int], rank: int, layers: Sequence[int]) -> int:
    """Trainable parameters of rank-``rank`` adapters on ``layers`` of a network of ``sizes``."""
    return sum(rank * (sizes[i] + sizes[i + 1]) for i in layers)


def apply_lora(net, *, rank: int = 1, layers: Sequence[int] = (1,), seed: int = 0) -> int:
    """Freeze ``net`` and put a :class:`LoRALinear` on each of ``layers``; returns the number of
    trainable parameters."""
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ParameterError(f"apply_lora: rank must be a positive integer, got {rank!r}")
    freeze(net)
    gen = torch.Generator().manual_seed(int(seed))
    for i in sorted(set(int(k) for k in layers)):
        if not 0 <= i < len(net.layers):
            raise ParameterError(f"apply_lora: layer {i} does not exist ({len(net.layers)} layers)")
        layer = net.layers[i]
        if isinstance(layer.linear, LoRALinear):
            raise ParameterError(f"apply_lora: layer {i} already has an adapter")
        layer.linear = LoRALinear(layer.linear, rank, gen)
    return count_trainable(net)


def merge_adapters(net):
    """Fold every :class:`LoRALinear` into a plain frozen ``Linear`` (``W <- W + B A``), in place;
    a network without adapters is returned unchanged."""
    for layer in net.layers:
        lin = layer.linear
        if isinstance(lin, LoRALinear):
            plain = torch.nn.Linear(
                lin.in_features, lin.out_features, bias=False, dtype=lin.weight.dtype,
                device=lin.weight.device,
            )  # fmt: skip
            with torch.no_grad():
                plain.weight.copy_(lin.merged_weight())
            plain.weight.requires_grad_(False)
            layer.linear = plain
    return net


def apply_method(net, method, seed: int) -> int:
    """Apply a pipeline :class:`~lava_nt.examples.eeg.pipeline.Method` to ``net`` (frozen except
    what the method trains); returns the number of trainable parameters."""
    if method.tuning is None:
        net.set_trainable(weight=False, bias=False, gain=False)
        return 0
    if tuple(method.tuning) == ("lora",):
        return apply_lora(net, seed=seed, **method.tuning_kwargs())
    return apply_tuning(net, list(method.tuning), seed=seed, **method.tuning_kwargs()).total


@dataclass(frozen=True)
class LogRegResult:
    """The chosen ``C``, accuracies per part (None for an empty part) and test predictions."""

    C: float
    acc: dict
    test_pred: np.ndarray
    n_parameters: int


def _pm(x) -> np.ndarray:
    return 2.0 * np.asarray(x, dtype=np.float64) - 1.0


def logistic_regression(td, select: str, Cs: Sequence[float] = LOGREG_C) -> LogRegResult:
    """Per-person logistic regression on a :class:`~lava_nt.examples.eeg.protocols.TuningData`
    (inputs coded +-1); ``select`` is the pipeline's epoch rule ("val", "test" or "last")."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    xtr, ytr = _pm(td.x_train), np.asarray(td.y_train)
    classes = np.unique(ytr)

    def fit(C):
        if classes.size < 2:  # one class only: predict it
            return None
        return LogisticRegression(C=C, max_iter=2000).fit(xtr, ytr)

    def predict(model, x):
        if model is None:
            return np.full(len(x), classes[0] if classes.size else 0, dtype=np.int64)
        return model.predict(_pm(x)).astype(np.int64)

    def score(model, x, y):
        y = np.asarray(y)
        acc = float(np.mean(predict(model, x) == y))
        if model is None:
            return acc, math.inf
        return acc, float(log_loss(y, model.predict_proba(_pm(x)), labels=[0, 1]))

    part = {"val": ("x_val", "y_val"), "test": ("x_test", "y_test")}.get(select)
    if part is None or not len(getattr(td, part[1])):
        Cs = (1.0,)
    best, best_key = None, None
    for C in Cs:
        model = fit(C)
        if len(Cs) == 1:
            best = (C, model)
            break
        acc, loss = score(model, getattr(td, part[0]), getattr(td, part[1]))
        key = (acc, -loss)
        if best_key is None or key > best_key:
            best, best_key = (C, model), key
    C, model = best
    acc = {}
    for name in ("train", "val", "test"):
        x, y = getattr(td, f"x_{name}"), getattr(td, f"y_{name}")
        acc[name] = float(np.mean(predict(model, x) == np.asarray(y))) if len(y) else None
    return LogRegResult(float(C), acc, predict(model, td.x_test), int(td.x_train.shape[1]) + 1)
