"""From a loaded model file back to a torch :class:`~lava_nt.nn.network.NTNetwork`."""

from __future__ import annotations

from lava_nt.converters.model_file.read import load_model
from lava_nt.converters.model_file.schema import ModelInfo
from lava_nt.network import NetworkSpec
from lava_nt.spec.validation import ParameterError


def network_from_model(spec: NetworkSpec, info: ModelInfo | None = None, dtype=None):
    """Rebuild the :class:`~lava_nt.nn.network.NTNetwork` of a loaded model: values (bit-exact
    in the saved dtype, or ``dtype``), trainable tensors, surrogate settings, ``n_classes``."""
    # lazy: torch only to rebuild a torch network; loading and deploying a model file need none
    import torch

    from lava_nt.nn.network import NTNetwork  # lazy: torch, as above
    from lava_nt.nn.surrogate import (  # lazy: torch, as above
        DEFAULT_ALPHA,
        DEFAULT_SURROGATE,
        make_spike_fn,
    )

    if spec.fixed:
        raise ParameterError(
            "network_from_model: the model is fixed point; run it with "
            "lava_nt.nn.fixed_emulator.emulate_fixed or run_network(..., 'fixed')"
        )
    if dtype is None:
        dtype = getattr(torch, info.dtype) if info is not None else torch.float64
    detach = info.detach_reset if info is not None else True
    net = NTNetwork.from_spec(
        spec,
        dtype=dtype,
        trainable_weight=False,
        trainable_bias=False,
        trainable_gain=False,
        trainable_w_in=False,
        trainable_w_b=False,
        trainable_c_retention=False,
        detach_reset=detach,
    )
    if info is None:
        return net
    for layer, flags, sur in zip(net.layers, info.trainable, info.surrogate, strict=True):
        layer.linear.weight.requires_grad_(bool(flags["weight"]))
        layer.neuron.set_trainable(bias=flags["bias"], gain=flags["gain"])
        cell = layer.neuron
        name = sur.get("name") or DEFAULT_SURROGATE
        alpha = sur.get("alpha") or DEFAULT_ALPHA
        cell.surrogate, cell.alpha, cell.spike_fn = name, alpha, make_spike_fn(name, alpha)
        sb = layer.spiking_bias
        if sb is not None:
            sb.set_trainable(w_in=flags["w_in"], w_b=flags["w_b"], c_retention=flags["c_retention"])
            bname = sur.get("bias_name") or DEFAULT_SURROGATE
            balpha = sur.get("bias_alpha") or DEFAULT_ALPHA
            sb.surrogate, sb.surrogate_alpha = bname, balpha
            sb.spike_fn = make_spike_fn(bname, balpha)
    if info.n_classes is not None:
        net.n_classes = info.n_classes
    return net


def load_network(path, dtype=None):
    """``(NTNetwork, ModelInfo)`` from a model file (see :func:`network_from_model`)."""
    spec, info = load_model(path)
    return network_from_model(spec, info, dtype), info
