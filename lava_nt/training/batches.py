"""One batch through a model: data checks, the forward, the loss (population spike counts or a
readout's values) and evaluation on a data set."""

from __future__ import annotations

import time
import warnings

import torch

from lava_nt.decode import population_counts, predict
from lava_nt.device import module_device
from lava_nt.nn.readout import readout_loss
from lava_nt.spec.validation import ParameterError
from lava_nt.training.config import TrainConfig


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
    """Accuracy and loss of ``model`` on a data set (no gradients; eval mode during the call).

    Args:
        x: input ``[T, N, n_in]`` or static ``[N, n_in]`` (held for ``cfg.T`` steps).
        y: integer labels ``[N]``.
        batch_size: samples per forward.

    Returns:
        A dict with ``"acc"``: the fraction of samples whose prediction
        (:func:`lava_nt.decode.predict` of the population spike counts, or of the readout's
        values; ties go to the lower class) equals the label, and ``"loss"``: the mean loss per
        sample (the training loss of ``cfg``). Both are NaN for an empty data set.
    """
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
        correct += int((predict(counts) == yb).sum())
        total_loss += float(loss) * len(yb)
        n += len(yb)
    model.train(was_training)
    return {"acc": correct / n, "loss": total_loss / n}
