"""The QAT network (:class:`QATNetwork`): the fixed-point layers (with their synaptic delays, if
any), the optional integrator readout and graded input, as one trainable torch module."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lava_nt._deprecation import C_RETENTION_RENAME, rename_kwargs
from lava_nt.converters.model_file import load_model, save_model
from lava_nt.converters.quantize import quantize
from lava_nt.converters.quantize.scale import encode_graded_input
from lava_nt.network import GRADED_INPUT_MAX, NetworkSpec
from lava_nt.nn._util import LayerStack, is_trainable
from lava_nt.nn.network import NTNetwork
from lava_nt.nn.surrogate import DEFAULT_ALPHA, DEFAULT_SURROGATE
from lava_nt.qat.compare import fixed_spec_differences
from lava_nt.qat.layer import QATLayer
from lava_nt.qat.readout import READOUT_TRAINABLE_KINDS, QATReadout
from lava_nt.qat.registers import TRAINABLE_KINDS, QATError, _trainable
from lava_nt.spec.validation import ParameterError


def _is_ntnetwork(obj) -> bool:
    return isinstance(obj, NTNetwork)


def _readout_flags(net) -> dict[str, bool]:
    """What an NTNetwork's readout has trainable (``apply_tuning`` freezes it)."""
    ro = getattr(net, "readout", None)
    if ro is None:
        return dict.fromkeys(READOUT_TRAINABLE_KINDS, False)
    return {"weight": bool(ro.linear.weight.requires_grad), "bias": is_trainable(ro, "bias")}


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


class QATNetwork(LayerStack, torch.nn.Module):
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
        input_scale: graded input only: the fixed-point network takes ``round(x * input_scale)``
            (default 1: integer data); :meth:`forward` takes the real-valued ``x`` and applies it.
        readout_scale, readout_window: the readout's voltage scale ``S_r`` (default: the
            quantiser's choice, no 24-bit overflow over ``readout_window`` steps).
        readout_trainable: ``{"weight": bool, "bias": bool}`` of the readout (default: what
            ``net``'s readout has trainable; nothing for a spec).

    Attributes:
        scales, bias_scales: the fixed scales of the layers and their spiking biases.
        readout_scale: the readout's scale ``S_r`` (None without a readout).
        input_scale: the graded input's scale ``S_x`` (1.0 for spike input).
        report: the quantiser's report at construction.
        readout: the :class:`~lava_nt.qat.readout.QATReadout` (None without a readout).
        input: the input kind, spikes or graded.
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
        input_scale: float | None = None,
        readout_scale: float | None = None,
        readout_window: int = 100,
        readout_trainable: dict | None = None,
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
            ro_flags = _readout_flags(net)
        elif isinstance(net, NetworkSpec):
            if net.fixed:
                raise QATError("QATNetwork: expected a float spec (quantisation happens here)")
            spec = net
            flags = [dict.fromkeys(TRAINABLE_KINDS, False) for _ in spec.layers]
            sur = [(surrogate, alpha)] * len(spec.layers)
            sbsur = [(surrogate, alpha)] * len(spec.layers)
            detach = [bool(detach_reset)] * len(spec.layers)
            n_classes = None
            ro_flags = dict.fromkeys(READOUT_TRAINABLE_KINDS, False)
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
        ro_flags = _override_readout_flags(ro_flags, readout_trainable, spec)
        if isinstance(bias_exp, bool) or not (
            bias_exp in ("neuron", "layer") or isinstance(bias_exp, int | np.integer)
        ):
            raise ParameterError("QATNetwork: bias_exp must be 'neuron', 'layer' or an int")
        if input_scale is not None and not spec.graded:
            raise QATError(
                "QATNetwork: input_scale applies to a network built for graded (real-valued) "
                "input; this one takes spikes"
            )
        q, report = quantize(
            spec, scales=scales, bias_scales=bias_scales, bias_exp=bias_exp,
            power_of_two=power_of_two, input_scale=input_scale, readout_scale=readout_scale,
            readout_window=readout_window,
        )  # fmt: skip
        self.report = report
        self.input = spec.input
        self.input_scale = float(report.input_scale)
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
                input_scale=self.input_scale if k == 0 and spec.graded else None,
            )  # fmt: skip
            for k, ls in enumerate(spec.layers)
        )
        self.readout_scale = None if report.readout is None else float(report.readout.scale)
        self.readout = None
        if spec.readout is not None:
            self.readout = QATReadout(
                spec.readout, q.readout, self.readout_scale, self.bias_exp, ro_flags
            )

    # -- properties -----------------------------------------------------------------------------
    @property
    def graded(self) -> bool:
        return self.input == "graded"

    # -- running --------------------------------------------------------------------------------
    def fixed_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the fixed-point network takes for the input ``x`` of the float network: spikes
        as they are; graded data as the integers ``round(x * input_scale)`` (half away from zero,
        :func:`~lava_nt.converters.quantize.scale.encode_graded_input`, the rule every engine
        uses) in float64. Not differentiable with respect to ``x``."""
        if not self.graded:
            return x
        xi = encode_graded_input(x.detach().cpu().numpy(), self.input_scale)
        if xi.size and float(np.abs(xi).max()) > GRADED_INPUT_MAX:
            raise ParameterError(
                f"QATNetwork: round(x * {self.input_scale:g}) exceeds the graded-input payload "
                f"+-{GRADED_INPUT_MAX}; the input is larger than the scale was chosen for"
            )
        return torch.as_tensor(xi, dtype=torch.float64, device=x.device)

    def _finish(self, s, recs, record: bool):
        if self.readout is not None:
            s = self.readout(s)
        return (s, recs) if record else s

    def forward(self, x: torch.Tensor, record: bool = False):
        """Output spikes ``[T, ..., n_out]`` (float64 0/1, surrogate gradients) of input ``x [T,
        ..., n_in]``, or for a network with a readout its integer voltage trace (float64 holding
        the fixed-point network's integers; :meth:`values` reduces it); with ``record=True`` also
        one dict per layer (``spikes``, ``bias_current`` in integer voltage units,
        ``bias_spikes``), as :func:`~lava_nt.network.reference_run`. Graded input: ``x`` is the
        real-valued data; the layers take :meth:`fixed_input` of it."""
        if x.shape[-1] != self.n_in:
            raise ParameterError(f"QATNetwork: input must be [T, ..., {self.n_in}]")
        s, recs = self.fixed_input(x), []
        for layer in self.layers:
            s, rec = layer.run(s, record=record)
            recs.append(rec)
        return self._finish(s, recs, record)

    def forward_static(self, x: torch.Tensor, T: int, record: bool = False):
        """A static input ``x [..., n_in]`` held for ``T`` steps (the EEG task); returns what
        ``forward(x.expand(T, ...), record)`` returns (layer 1's drive is computed once)."""
        if x.shape[-1] != self.n_in:
            raise ParameterError(f"QATNetwork: static input must be [..., {self.n_in}]")
        if isinstance(T, bool) or not isinstance(T, int) or T <= 0:
            raise ParameterError(
                f"QATNetwork.forward_static: 'T' must be a positive int, got {T!r}"
            )
        s, rec = self.layers[0].run(self.fixed_input(x), T=T, record=record)
        recs = [rec]
        for layer in self.layers[1:]:
            s, rec = layer.run(s, record=record)
            recs.append(rec)
        return self._finish(s, recs, record)

    def after_step(self) -> None:
        """Called by :func:`lava_nt.training.train` after every optimizer step."""
        self.constrain_()

    def constrain_(self) -> QATNetwork:
        for layer in self.layers:
            layer.constrain_()
        if self.readout is not None:
            self.readout.constrain_()
        return self

    # -- export ---------------------------------------------------------------------------------
    def to_float_spec(self) -> NetworkSpec:
        """The float network of the latent parameters (weights, biases, gains, ``w_b``, clamped
        ``c_retention``, the readout's weights and biases); :meth:`quantized` (the quantiser at
        this network's scales) of it gives :meth:`to_fixed_spec`."""
        ro = None if self.readout is None else self.readout.float_readout()
        return NetworkSpec(
            self.n_in, [layer.float_layer() for layer in self.layers], readout=ro,
            input=self.input,
        )  # fmt: skip

    def _fixed(self) -> NetworkSpec:
        ro = None if self.readout is None else self.readout.fixed_readout()
        return NetworkSpec(
            self.n_in, [layer.fixed_layer() for layer in self.layers], fixed=True, readout=ro,
            input=self.input,
        )  # fmt: skip

    def to_fixed_spec(self, check: bool = False) -> NetworkSpec:
        """The fixed-point network that the forward computes (integer mantissas as trained):
        deploy it with ``run_network(spec, x, "fixed")``. Its registers are the quantiser's at the
        same scales by construction (both apply :mod:`lava_nt.spec.quantization`; the tests prove
        it); ``check=True`` compares them once more (:meth:`check_against_quantizer`)."""
        fixed = self._fixed()
        if check:
            self.check_against_quantizer(None, fixed)
        return fixed

    def quantized(self):
        """``(fixed_spec, QuantReport)`` of the latents at the fixed scales (quantiser's view)."""
        return quantize(
            self.to_float_spec(), scales=self.scales, bias_scales=self.bias_scales,
            bias_exp=self.bias_exp, input_scale=self.input_scale if self.graded else None,
            readout_scale=self.readout_scale,
        )  # fmt: skip

    def check_against_quantizer(self, q: NetworkSpec | None = None, fixed=None) -> None:
        """Raise :class:`QATError` unless the registers (``fixed``, default: the current ones)
        equal ``q`` (default: ``quantize`` of the latents at the fixed scales). Not called on
        any production path (both sides apply the same rules); the tests call it."""
        if q is None:
            q, _ = self.quantized()
        if fixed is None:
            fixed = self._fixed()
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
        if fixed.readout is not None:
            ro = fixed.readout
            out["readout.weight"] = np.asarray(ro.weight)
            out["readout.bias_mant"] = np.asarray(ro.params.bias_mant)
            out["readout.bias_exp"] = np.asarray(ro.params.bias_exp)
        return out

    def save(self, path, *, meta: dict | None = None, overwrite: bool = False) -> Path:
        """Save as a lava-nt model file: the latent float network with the trained fixed-point
        network attached (``load_model(path)`` / the ``quantized`` group hold the integers)."""
        fixed, report = self.quantized()
        meta = dict(meta or {})
        meta.setdefault("qat", {"scales": self.scales, "bias_scales": self.bias_scales,
                                "bias_exp": self.bias_exp, "readout_scale": self.readout_scale,
                                "input_scale": self.input_scale})  # fmt: skip
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
        rep = info.quant_report
        if spec.graded and q.get("input_scale") is None and rep is not None:
            q = {**q, "input_scale": rep.input_scale}
        if spec.readout is not None and q.get("readout_scale") is None and rep is not None:
            q = {**q, "readout_scale": None if rep.readout is None else rep.readout.scale}
        qat = cls(
            spec, scales=q["scales"], bias_scales=q["bias_scales"], bias_exp=q["bias_exp"],
            trainable=trainable, input_scale=q.get("input_scale") if spec.graded else None,
            readout_scale=q.get("readout_scale"), **kwargs,
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
        if self.readout is not None:
            for kind in READOUT_TRAINABLE_KINDS:
                if _trainable(self.readout, kind):
                    out[f"readout.{kind}"] = getattr(self.readout, kind).numel()
        out["total"] = sum(out.values())
        return out


def _override_readout_flags(flags: dict, given, spec: NetworkSpec) -> dict:
    """``flags`` updated with ``readout_trainable`` (validated)."""
    if given is None:
        return flags
    if spec.readout is None:
        raise QATError("QATNetwork: readout_trainable given, but the network has no readout")
    out = dict(flags)
    for key, val in dict(given).items():
        if key not in READOUT_TRAINABLE_KINDS:
            raise QATError(
                f"QATNetwork: unknown readout trainable kind {key!r} (kinds: "
                f"{', '.join(READOUT_TRAINABLE_KINDS)})"
            )
        out[key] = bool(val)
    return out
