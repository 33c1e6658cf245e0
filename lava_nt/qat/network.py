"""The QAT network (:class:`QATNetwork`) and the register comparison of two fixed-point specs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lava_nt._deprecation import C_RETENTION_RENAME, rename_kwargs
from lava_nt.converters.model_file import load_model, save_model
from lava_nt.converters.quantize import quantize
from lava_nt.network import NetworkSpec
from lava_nt.nn._util import is_trainable
from lava_nt.nn.network import NTNetwork
from lava_nt.nn.surrogate import DEFAULT_ALPHA, DEFAULT_SURROGATE
from lava_nt.qat.layer import QATLayer
from lava_nt.qat.registers import TRAINABLE_KINDS, QATError, _trainable
from lava_nt.spec.validation import ParameterError


def _is_ntnetwork(obj) -> bool:
    return isinstance(obj, NTNetwork)


def _trainable_flags(net) -> list[dict[str, bool]]:
    """What an NTNetwork (after apply_tuning) left trainable, per layer."""
    flags = []
    for layer in net.layers:
        sb = layer.spiking_bias
        flags.append(
            {
                "weight": bool(layer.linear.weight.requires_grad),
                "bias": is_trainable(layer.neuron, "bias"),
                "gain": is_trainable(layer.neuron, "gain"),
                "w_in": sb is not None and is_trainable(sb, "w_in"),
                "w_b": sb is not None and is_trainable(sb, "w_b"),
                "c_retention": sb is not None and is_trainable(sb, "c_retention"),
            }
        )
    return flags


class QATNetwork(torch.nn.Module):
    """The fixed-point network as a trainable torch module (see the module docstring).

    Args:
        net: a float :class:`~lava_nt.nn.network.NTNetwork` (its trainable tensors, surrogates
            and ``detach_reset`` are taken over; batched ``k`` parameters are refused) or a float
            :class:`~lava_nt.network.NetworkSpec`.
        scales, bias_scales, bias_exp, power_of_two: passed to
            :func:`~lava_nt.converters.quantize.quantize` to choose the per-layer scales ``S``
            (and spiking-bias scales ``S_b``) once, from ``net``'s current values; the scales
            then stay fixed (they are part of the deployed network's meaning).
        trainable: override which kinds are trainable, e.g. ``{"bias": True}`` (all layers) or a
            list with one dict per layer; kinds: weight, bias, gain, w_in, w_b, c_retention
            (``alpha`` is its deprecated name). Default: what ``net`` has trainable (nothing for
            a spec).
        surrogate, alpha, detach_reset: for a spec (an NTNetwork's own settings are used;
            ``alpha`` is the surrogate-gradient slope).

    Attributes:
        scales, bias_scales: the fixed scales; ``report``: the quantiser's report at construction.
    """

    def __init__(
        self,
        net,
        *,
        scales=None,
        bias_scales=None,
        bias_exp: str | int = "neuron",
        power_of_two: bool = False,
        trainable: dict | Sequence[dict] | None = None,
        surrogate: Any = DEFAULT_SURROGATE,
        alpha: float = DEFAULT_ALPHA,
        detach_reset: bool = True,
    ):
        super().__init__()
        if _is_ntnetwork(net):
            for k, layer in enumerate(net.layers):
                sb = layer.spiking_bias
                if layer.neuron.k is not None or (sb is not None and sb.k is not None):
                    raise QATError(
                        f"QATNetwork: layer {k} has batched (k) parameters; wrap one set "
                        "(NTNetwork.to_spec(k=...)) instead"
                    )
            spec = net.to_spec()
            flags = _trainable_flags(net)
            sur = [(layer.neuron.surrogate, layer.neuron.alpha) for layer in net.layers]
            sbsur = [
                (None, None)
                if layer.spiking_bias is None
                else (layer.spiking_bias.surrogate, layer.spiking_bias.surrogate_alpha)
                for layer in net.layers
            ]
            detach = [bool(layer.neuron.detach_reset) for layer in net.layers]
            n_classes = getattr(net, "n_classes", None)
        elif isinstance(net, NetworkSpec):
            if net.fixed:
                raise QATError("QATNetwork: expected a float spec (quantisation happens here)")
            spec = net
            flags = [dict.fromkeys(TRAINABLE_KINDS, False) for _ in spec.layers]
            sur = [(surrogate, alpha)] * len(spec.layers)
            sbsur = [(surrogate, alpha)] * len(spec.layers)
            detach = [bool(detach_reset)] * len(spec.layers)
            n_classes = None
        else:
            raise QATError(
                f"QATNetwork: expected an NTNetwork or a float NetworkSpec, got {type(net)}"
            )
        if trainable is not None:
            per = [trainable] * len(spec.layers) if isinstance(trainable, dict) else trainable
            if len(per) != len(spec.layers):
                raise QATError(f"QATNetwork: 'trainable' needs {len(spec.layers)} entries")
            for f, t in zip(flags, per, strict=True):
                t = rename_kwargs(dict(t), C_RETENTION_RENAME, "QATNetwork: trainable")
                for key, val in t.items():
                    if key not in TRAINABLE_KINDS:
                        raise QATError(f"QATNetwork: unknown trainable kind {key!r}")
                    f[key] = bool(val)
        if isinstance(bias_exp, bool) or not (
            bias_exp in ("neuron", "layer") or isinstance(bias_exp, int | np.integer)
        ):
            raise ParameterError("QATNetwork: bias_exp must be 'neuron', 'layer' or an int")
        q, report = quantize(
            spec, scales=scales, bias_scales=bias_scales, bias_exp=bias_exp,
            power_of_two=power_of_two,
        )  # fmt: skip
        self.report = report
        self.bias_exp = bias_exp if isinstance(bias_exp, str) else int(bias_exp)
        self.scales = [float(lq.scale) for lq in report.layers]
        self.bias_scales = [
            None if lq.spiking_bias is None else float(lq.spiking_bias["scale"])
            for lq in report.layers
        ]
        self.n_classes = n_classes
        self.layers = torch.nn.ModuleList(
            QATLayer(
                ls,
                q.layers[k],
                self.scales[k],
                self.bias_scales[k],
                self.bias_exp,
                flags[k],
                surrogate=sur[k][0],
                alpha=sur[k][1],
                sb_surrogate=sbsur[k][0],
                sb_alpha=sbsur[k][1],
                detach_reset=detach[k],
            )  # fmt: skip
            for k, ls in enumerate(spec.layers)
        )

    # -- properties -----------------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n

    @property
    def sizes(self) -> list[int]:
        return [self.n_in] + [layer.n for layer in self.layers]

    # -- running --------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, record: bool = False):
        """Spikes ``[T, ..., n_out]`` (float64 0/1, surrogate gradients) of input ``x [T, ...,
        n_in]``; with ``record=True`` also one dict per layer (``spikes``, ``bias_current`` in
        integer voltage units, ``bias_spikes``), as :func:`~lava_nt.network.reference_run`."""
        if x.shape[-1] != self.n_in:
            raise ParameterError(f"QATNetwork: input must be [T, ..., {self.n_in}]")
        s, recs = x, []
        for layer in self.layers:
            s, rec = layer.run(s, record=record)
            recs.append(rec)
        return (s, recs) if record else s

    def forward_static(self, x: torch.Tensor, T: int, record: bool = False):
        """A static input ``x [..., n_in]`` held for ``T`` steps (the EEG task); returns what
        ``forward(x.expand(T, ...), record)`` returns (layer 1's drive is computed once)."""
        if x.shape[-1] != self.n_in:
            raise ParameterError(f"QATNetwork: static input must be [..., {self.n_in}]")
        if isinstance(T, bool) or not isinstance(T, int) or T <= 0:
            raise ParameterError(
                f"QATNetwork.forward_static: 'T' must be a positive int, got {T!r}"
            )
        s, rec = self.layers[0].run(x, T=T, record=record)
        recs = [rec]
        for layer in self.layers[1:]:
            s, rec = layer.run(s, record=record)
            recs.append(rec)
        return (s, recs) if record else s

    def after_step(self) -> None:
        """Called by :func:`lava_nt.training.train` after every optimizer step."""
        self.constrain_()

    def constrain_(self) -> QATNetwork:
        for layer in self.layers:
            layer.constrain_()
        return self

    # -- export ---------------------------------------------------------------------------------
    def to_float_spec(self) -> NetworkSpec:
        """The float network of the latent parameters (weights, biases, gains, ``w_b``, clamped
        ``c_retention``); ``quantize(to_float_spec(), scales=self.scales,
        bias_scales=self.bias_scales, bias_exp=self.bias_exp)`` gives :meth:`to_fixed_spec`."""
        return NetworkSpec(self.n_in, [layer.float_layer() for layer in self.layers])

    def to_fixed_spec(self, check: bool = False) -> NetworkSpec:
        """The fixed-point network that the forward computes (integer mantissas as trained):
        deploy it with ``run_network(spec, x, "fixed")``. Its registers are the quantiser's at the
        same scales by construction (both apply :mod:`lava_nt.spec.quantization`; the tests prove
        it); ``check=True`` compares them once more (:meth:`check_against_quantizer`)."""
        fixed = NetworkSpec(self.n_in, [layer.fixed_layer() for layer in self.layers], fixed=True)
        if check:
            self.check_against_quantizer(None, fixed)
        return fixed

    def quantized(self):
        """``(fixed_spec, QuantReport)`` of the latents at the fixed scales (quantiser's view)."""
        return quantize(
            self.to_float_spec(), scales=self.scales, bias_scales=self.bias_scales,
            bias_exp=self.bias_exp,
        )  # fmt: skip

    def check_against_quantizer(self, q: NetworkSpec | None = None, fixed=None) -> None:
        """Raise :class:`QATError` unless the registers (``fixed``, default: the current ones)
        equal ``q`` (default: ``quantize`` of the latents at the fixed scales). Not called on
        any production path (both sides apply the same rules); the tests call it."""
        if q is None:
            q, _ = self.quantized()
        if fixed is None:
            fixed = NetworkSpec(
                self.n_in, [layer.fixed_layer() for layer in self.layers], fixed=True
            )
        diffs = fixed_spec_differences(q, fixed)
        if diffs:
            raise QATError(
                "QATNetwork: the trained registers differ from the quantiser's at the same "
                f"scales: {', '.join(diffs[:8])}"
            )

    def integer_parameters(self) -> dict[str, np.ndarray]:
        """The trained registers by name (int64), e.g. ``layers.0.bias_mant``: what a chip's
        registers hold."""
        fixed = self.to_fixed_spec(check=False)
        out = {}
        for k, ls in enumerate(fixed.layers):
            p = ls.neuron
            out[f"layers.{k}.weight"] = np.asarray(ls.weight)
            out[f"layers.{k}.bias_mant"] = np.asarray(p.bias_mant)
            out[f"layers.{k}.bias_exp"] = np.asarray(p.bias_exp)
            out[f"layers.{k}.gain_mant"] = np.asarray(p.gain_mant)
            if ls.spiking_bias is not None:
                pb = ls.spiking_bias.params
                out[f"layers.{k}.sb.w_in"] = np.asarray(ls.spiking_bias.w_in)
                out[f"layers.{k}.sb.w_b_mant"] = np.asarray(pb.w_b_mant)
                out[f"layers.{k}.sb.w_b_exp"] = np.asarray(pb.w_b_exp)
                out[f"layers.{k}.sb.dc"] = np.asarray(pb.dc)
        return out

    def save(self, path, *, meta: dict | None = None, overwrite: bool = False) -> Path:
        """Save as a lava-nt model file: the latent float network with the trained fixed-point
        network attached (``load_model(path)`` / the ``quantized`` group hold the integers)."""
        fixed, report = self.quantized()
        meta = dict(meta or {})
        meta.setdefault("qat", {"scales": self.scales, "bias_scales": self.bias_scales,
                                "bias_exp": self.bias_exp})  # fmt: skip
        if self.n_classes is not None:
            meta.setdefault("n_classes", int(self.n_classes))
        return save_model(
            path, self.to_float_spec(), meta=meta, overwrite=overwrite, quantized=(fixed, report)
        )

    @classmethod
    def load(cls, path, *, trainable: dict | Sequence[dict] | None = None, **kwargs) -> QATNetwork:
        """Rebuild a QAT network saved with :meth:`save` (same scales, same registers); the file
        is validated by :func:`~lava_nt.converters.model_file.load_model`."""
        spec, info = load_model(path)
        q = info.meta.get("qat")
        if not isinstance(q, dict) or "scales" not in q:
            raise QATError(f"{path}: not saved by QATNetwork.save (no 'qat' scales in meta)")
        sur = info.surrogate[0] if info.surrogate else {}
        kwargs.setdefault("surrogate", sur.get("name") or DEFAULT_SURROGATE)
        kwargs.setdefault("alpha", sur.get("alpha") or DEFAULT_ALPHA)
        qat = cls(
            spec, scales=q["scales"], bias_scales=q["bias_scales"], bias_exp=q["bias_exp"],
            trainable=trainable, **kwargs,
        )  # fmt: skip
        if info.quantized is not None:  # the file's integers must be what its floats quantise to
            diffs = fixed_spec_differences(info.quantized, qat.to_fixed_spec())
            if diffs:
                raise QATError(
                    f"{path}: the attached fixed-point network differs from the quantisation of "
                    f"the file's float network at its QAT scales: {', '.join(diffs[:8])}"
                )
        qat.n_classes = info.n_classes
        return qat

    def trainable_summary(self) -> dict[str, int]:
        out = dict.fromkeys(TRAINABLE_KINDS, 0)
        for layer in self.layers:
            for kind in TRAINABLE_KINDS:
                if _trainable(layer, kind):
                    t = getattr(layer, kind)
                    if kind == "w_in" and layer.mask is not None:
                        out[kind] += int(layer.mask.sum())
                    else:
                        out[kind] += t.numel()
        out["total"] = sum(out.values())
        return out


def fixed_spec_differences(a: NetworkSpec, b: NetworkSpec) -> list[str]:
    """Names of the registers in which two fixed-point specs differ (empty: identical)."""
    out = []
    if len(a.layers) != len(b.layers) or a.n_in != b.n_in:
        return ["architecture"]
    for k, (la, lb) in enumerate(zip(a.layers, b.layers, strict=True)):
        if la.weight_exp != lb.weight_exp or not np.array_equal(
            np.asarray(la.weight), np.asarray(lb.weight)
        ):
            out.append(f"layer {k} weight")
        for name in ("du", "dv", "vth", "bias_mant", "bias_exp", "gain_mant", "reset_subtract"):
            if not np.array_equal(np.asarray(getattr(la.neuron, name)),
                                  np.asarray(getattr(lb.neuron, name))):  # fmt: skip
                out.append(f"layer {k} {name}")
        sa, sb = la.spiking_bias, lb.spiking_bias
        if (sa is None) != (sb is None):
            out.append(f"layer {k} spiking bias")
            continue
        if sa is None:
            continue
        if sa.w_in_exp != sb.w_in_exp or not np.array_equal(sa.w_in, sb.w_in):
            out.append(f"layer {k} sb.w_in")
        for name in ("du", "dv", "vth", "bias_mant", "bias_exp", "w_b_mant", "w_b_exp", "dc"):
            if not np.array_equal(np.asarray(getattr(sa.params, name)),
                                  np.asarray(getattr(sb.params, name))):  # fmt: skip
                out.append(f"layer {k} sb.{name}")
        ga, gb = sa.params.group, sb.params.group
        if (ga is None) != (gb is None) or (ga is not None and not np.array_equal(ga, gb)):
            out.append(f"layer {k} sb.group")
    return out
