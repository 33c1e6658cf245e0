"""The spiking half of the study: the MLP's two classifier layers as NTLIF neurons initialised
from its (scaled) weights, tuned in two ways, and deployed on Lava.

Conversion (:func:`to_snn`): layer ``k`` gets ``W' = lam_k W`` (layer 2 also times the scale of
its input), ``b' = lam_k b``, ``g' = g``, ``vth = 1``, ``du = 1``, ``dv = 0`` (no leak), reset by
subtraction; the scales ``lam_k`` come from the pre-activations on source (MNIST) data:

* ``"multi"`` (rate coding, T steps): ``lam = 1 / p99`` of the positive pre-activations, so an
  integrate-and-fire neuron's rate approximates the ReLU (data-based normalisation).
* ``"single"`` (the paper's §5.1, one update per layer): a neuron fires iff ``lam z > 1``;
  ``lam = 1 / median`` of the positive hidden pre-activations and ``1 / median`` of the per-sample
  largest output pre-activation, so about half the active ReLUs fire and the top class fires on
  about half the source samples.

Tuning (:func:`tune_snn`) uses :func:`lava_nt.tuning.apply_tuning` (``tft``, ``nt1`` with the
paper's uniform gain init, ``nt2``, ``additive_bias`` on the bias-free twin, or ``none``):

* **single-update** (:func:`single_update_step`): ``T = 1``, binary outputs, ``e = target -
  output`` (the paper's "loss", eq. 2), the modified step ``H_sim(v) = 1 if v > vth else s``
  (eq. 13) forward and derivative 1 backward (eq. 10 after the 1/s amplification), so the update
  of a trainable tensor is ``-lr * d(output)/d(param) . (-e)`` fed to Adam (or plain SGD).
  A sample counts as correct only if exactly its class fires (the paper's strict reading, eq. 1).
* **multi-step BPTT**: :func:`lava_nt.training.train` (Adam, cross-entropy on spike counts over
  ``T`` steps, SuperSpike surrogate), static binary images held for ``T`` steps.

:func:`deploy` runs a tuned network's ``to_spec()`` on Lava (float, and fixed point through
:func:`lava_nt.converters.quantize.quantize`), all test samples in ONE call per precision.

Quantisation-aware tuning (``lava-nt images run --qat``, multi-step variant): :func:`tune_snn_qat`
tunes the same network with the same method, data and settings through the Loihi fixed-point
network (:class:`lava_nt.qat.QATNetwork`), and :func:`deploy_qat` runs the trained integers on
Lava fixed point and compares every layer's spikes with the training forward (bit for bit). The
single-update rule has its own forward (one step, ``H_sim``) and is not tuned with QAT.
"""

from __future__ import annotations

import numpy as np
import torch

from lava_nt import decode
from lava_nt.converters.lava_graph import run_network
from lava_nt.converters.quantize import quantize
from lava_nt.examples.images.selection import train_keeping_best
from lava_nt.nn.layer import NTLayer
from lava_nt.nn.network import NTNetwork
from lava_nt.qat import QATNetwork
from lava_nt.training import TrainConfig, evaluate
from lava_nt.training import train as bptt
from lava_nt.tuning import apply_tuning, count_trainable, freeze

METHODS = ("none", "tft", "nt1", "nt2", "additive_bias")
VARIANTS = ("single", "multi")


# ---- conversion -----------------------------------------------------------------------------
@torch.no_grad()
def scales(mlp, x_src: torch.Tensor, variant: str) -> list[float]:
    """Per-layer scales ``lam_k`` from source-data pre-activations (see the module docstring)."""
    W1, b1, W2, b2 = mlp.W[0], mlp.b[0], mlp.W[1], mlp.b[1]
    z1 = x_src @ W1.T + b1
    pos1 = z1[z1 > 0]
    if variant == "multi":
        lam1 = 1.0 / float(torch.quantile(pos1, 0.99))
        r1 = torch.clamp(lam1 * z1, 0, 1)
        z2 = (r1 @ W2.T) / lam1 + b2
        lam2 = 1.0 / float(torch.quantile(z2[z2 > 0], 0.99))
    elif variant == "single":
        lam1 = 1.0 / float(torch.median(pos1))
        o1 = (lam1 * z1 > 1).float()
        z2 = o1 @ W2.T + b2
        lam2 = 1.0 / float(torch.median(z2.max(-1).values.clamp_min(1e-6)))
    else:
        raise ValueError(f"variant must be one of {VARIANTS}")
    return [lam1, lam2]


@torch.no_grad()
def to_snn(mlp, lams: list[float], variant: str) -> NTNetwork:
    """The MLP's layers as NTLIF layers (float32); biases only if the MLP has them."""
    lam1, lam2 = lams
    # layer 2's input: rates r1 ~ lam1 z1 (multi) or binary spikes (single)
    in2 = 1.0 / lam1 if variant == "multi" else 1.0
    ws = [lam1 * mlp.W[0], lam2 * in2 * mlp.W[1]]
    bs = [lam1 * mlp.b[0], lam2 * mlp.b[1]]
    layers = []
    for k in range(2):
        w = ws[k].detach().clone()
        layers.append(
            NTLayer(
                w.shape[1],
                w.shape[0],
                bias=bs[k].detach().clone() if mlp.has_bias else False,
                gain=mlp.g[k].detach().clone(),
                weight=w,
                du=1.0,
                dv=0.0,
                vth=1.0,
                reset="subtract",
            )
        )
    net = NTNetwork(layers)
    net.n_classes = int(ws[1].shape[0])
    return net


# ---- the paper's single-update rule ------------------------------------------------------------
class SimStep(torch.autograd.Function):
    """``H_sim(x) = 1 if x > 0 else s`` forward (x = v - vth), derivative 1 backward."""

    @staticmethod
    def forward(x: torch.Tensor, s: float) -> torch.Tensor:
        return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, s))

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None


def single_forward(net: NTNetwork, x: torch.Tensor, s: float = 0.0) -> list[torch.Tensor]:
    """One update per layer: ``v = g (W O + b)``, ``O = H_sim(v - vth)``; returns every layer's O.

    With ``s = 0`` this is exactly the NTLIF network run for ``T = 1`` (binary outputs)."""
    outs = []
    o = x
    for layer in net.layers:
        cell = layer.neuron
        v = cell.gain * (o @ layer.linear.weight.T + cell.bias)
        o = SimStep.apply(v - float(layer.neuron.neuron_parameters().vth), float(s))
        outs.append(o)
    return outs


def single_update_step(net, x, y, opt, s: float = 1e-3) -> float:
    """One batch of the single-update rule: ``e = target - H(v_out)``, backward through
    ``H_sim`` with derivative 1, optimizer step. Returns the mean ``|e|``."""
    n_out = net.n_out
    target = torch.nn.functional.one_hot(y, n_out).to(x.dtype)
    outs = single_forward(net, x, s)
    out = outs[-1]
    binary = (out >= 1.0).to(x.dtype)
    e = target - binary
    opt.zero_grad(set_to_none=True)
    # d(param) = d(out)/d(param) . e  ->  ascend, i.e. the gradient handed to the optimizer is -e
    out.backward(gradient=-e / len(y))
    opt.step()
    return float(e.abs().mean())


@torch.no_grad()
def single_predict(net, x) -> torch.Tensor:
    """Binary outputs ``[B, n_out]`` of the one-step network (s = 0)."""
    return single_forward(net, x, 0.0)[-1]


def strict_correct(out: torch.Tensor | np.ndarray, y) -> np.ndarray:
    """True where exactly the target neuron fired (any other pattern is a miss)."""
    out = np.asarray(out) > 0.5
    y = np.asarray(y)
    onehot = np.eye(out.shape[-1], dtype=bool)[y]
    return (out == onehot).all(-1)


def train_single(
    net,
    train,
    *,
    lr: float,
    epochs: int,
    batch_size: int = 64,
    seed: int = 0,
    s: float = 1e-3,
    optimizer: str = "adam",
    val=None,
) -> tuple[int, float | None]:
    """The single-update rule for ``epochs`` epochs. With ``val = (x, y)`` the epoch with the best
    strict validation accuracy is kept (parameters restored; a tie keeps the earlier epoch).
    Returns ``(epochs kept, validation accuracy there or None)``."""
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        return 0, None if val is None else _single_acc(net, val)
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(params, lr=lr)
    x, y = train
    gen = torch.Generator().manual_seed(seed)

    def run_epoch() -> None:
        perm = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), batch_size):
            idx = perm[i : i + batch_size]
            single_update_step(net, x[idx], y[idx], opt, s)

    validate = None if val is None else (lambda: _single_acc(net, val))
    return train_keeping_best(net, epochs, run_epoch, validate)


def _single_acc(net, data) -> float:
    return float(strict_correct(single_predict(net, data[0]), data[1]).mean())


# ---- tuning both variants ---------------------------------------------------------------------
def prepare(net: NTNetwork, method: str, seed: int = 0):
    """Apply ``method`` with :func:`lava_nt.tuning.apply_tuning` (``none`` freezes everything)."""

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; methods: {METHODS}")
    if method == "none":
        freeze(net)
    elif method == "nt1":
        apply_tuning(net, "nt1", gain_init="uniform", gain_range=(0.0, 1.0), seed=seed)
    else:
        apply_tuning(net, method, seed=seed)
    return count_trainable(net)


def multi_config(
    *, lr: float, epochs: int, T: int, seed: int, batch_size: int = 64, select: str = "last"
):
    return TrainConfig(
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        T=T,
        n_classes=10,
        loss="ce",
        spike_l1=0.0,
        select=select,
        seed=seed,
    )


def tune_snn(
    net: NTNetwork,
    method: str,
    variant: str,
    train,
    test,
    *,
    lr: float,
    epochs: int,
    T: int = 8,
    seed: int = 0,
    s: float = 1e-3,
    val=None,
) -> dict:
    """Tune ``net`` in place; returns test accuracy, trainable count and whether W stayed fixed.
    With ``val`` the epoch is chosen on it (the trainer's ``select="val"`` for the multi-step
    variant) and ``val_acc`` / ``epochs`` say what was kept."""
    torch.manual_seed(seed)
    n_par = prepare(net, method, seed)
    w0 = [layer.linear.weight.detach().clone() for layer in net.layers]
    kept, val_acc = (epochs if n_par else 0), None
    if variant == "single":
        if n_par:
            kept, val_acc = train_single(net, train, lr=lr, epochs=epochs, seed=seed, s=s, val=val)
        elif val is not None:
            val_acc = _single_acc(net, val)
        acc = _single_acc(net, test)
    else:
        select = "val" if val is not None else "last"
        cfg = multi_config(lr=lr, epochs=epochs, T=T, seed=seed, select=select)
        if n_par:
            res = bptt(net, train, cfg, val_data=val)
            if val is not None:
                kept, val_acc = res.best_epoch + 1, float(res.best_metric)
        elif val is not None:
            val_acc = float(evaluate(net, *val, cfg)["acc"])
        acc = float(evaluate(net, *test, cfg)["acc"])
    frozen = all(
        torch.equal(a, layer.linear.weight) for a, layer in zip(w0, net.layers, strict=True)
    )
    return {"acc": acc, "params": n_par, "weights_frozen": frozen, "val_acc": val_acc,
            "epochs": kept}  # fmt: skip


# ---- Lava --------------------------------------------------------------------------------------
def predictions(out: np.ndarray, variant: str, y) -> np.ndarray:
    """Correct/incorrect per sample for output spikes ``[T, B, n_out]`` (``"multi"``: one output
    neuron per class, :func:`lava_nt.decode.predictions` of the spike counts)."""
    out = np.asarray(out)
    if variant == "single":
        return strict_correct(out[0], y)
    return decode.predictions(out, out.shape[-1]) == np.asarray(y)


def deploy(
    net: NTNetwork, x: torch.Tensor, y: torch.Tensor, variant: str, T: int, fixed: bool = True
) -> list[dict]:
    """Torch vs Lava float (and Lava fixed point) on the samples ``x [B, n_in]`` (one Lava call
    per precision). Returns one row per precision."""
    T = 1 if variant == "single" else T
    with torch.no_grad():
        out_t = net.forward_static(x, T).detach().cpu().numpy()
    ok_t = predictions(out_t, variant, y)
    xs = np.broadcast_to(x.numpy()[None], (T, *x.shape)).astype(np.float64)
    spec = net.to_spec()
    rows = []
    runs = [("float", spec)]
    if fixed:
        fspec, rep = quantize(spec)
        runs.append(("fixed", fspec))
    for precision, sp in runs:
        res = run_network(sp, xs, precision=precision)
        out_l = res.output
        ok_l = predictions(out_l, variant, y)
        rows.append(
            {
                "precision": precision,
                "n": len(y),
                "acc_torch": float(ok_t.mean()),
                "acc_lava": float(ok_l.mean()),
                "spike_agreement": float((out_l == out_t).mean()),
                "seconds": float(res.timing.get("total", float("nan"))),
            }
        )
    return rows


# ---- quantisation-aware tuning ---------------------------------------------------------------
def tune_snn_qat(
    net: NTNetwork, method: str, train, test, *, lr: float, epochs: int, T: int = 8, seed: int = 0
):
    """Tune ``net`` (multi-step variant) through the fixed-point network: ``prepare`` as
    :func:`tune_snn`, then :class:`lava_nt.qat.QATNetwork` trained with the same settings.
    Returns ``(qat, {"acc": test accuracy of the training forward, "params": ...})``."""
    torch.manual_seed(seed)
    n_par = prepare(net, method, seed)
    qat = QATNetwork(net)
    cfg = multi_config(lr=lr, epochs=epochs, T=T, seed=seed)
    if n_par:
        bptt(qat, train, cfg)
    return qat, {"acc": float(evaluate(qat, *test, cfg)["acc"]), "params": n_par}


def deploy_qat(qat, x: torch.Tensor, y: torch.Tensor, T: int) -> dict:
    """The QAT network's fixed-point spec on Lava against its training forward (one Lava call):
    a ``lava.csv`` row with precision ``"qat fixed"`` (``acc_torch`` = the training forward)."""
    with torch.no_grad():
        _, recs = qat.forward_static(x.to(torch.float64), T, record=True)
    trained = [r["spikes"].numpy() for r in recs]
    xs = np.broadcast_to(x.numpy()[None], (T, *x.shape)).astype(np.float64)
    res = run_network(qat.to_fixed_spec(), xs, precision="fixed", record=True)
    lava = [np.asarray(layer["spikes"]) for layer in res.layers]
    return {
        "precision": "qat fixed",
        "n": len(y),
        "acc_torch": float(predictions(trained[-1], "multi", y).mean()),
        "acc_lava": float(predictions(lava[-1], "multi", y).mean()),
        "spike_agreement": float((lava[-1] == trained[-1]).mean()),
        "seconds": float(res.timing.get("total", float("nan"))),
        "bit_exact": all(np.array_equal(a, b) for a, b in zip(trained, lava, strict=True)),
    }
