"""Stock Lava deployment: a lava-nt network as stock ``Dense`` -> ``LIFReset`` processes only."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lava_nt.converters.netx.chain import run_chain
from lava_nt.converters.quantize import _per_neuron, _scalar
from lava_nt.converters.quantize import fold_gains as _fold
from lava_nt.network import NetworkSpec
from lava_nt.spec.fixed import (
    GAIN_UNITY,
)
from lava_nt.spec.validation import ParameterError


def _decay(x, dtype):
    """A decay as Lava's ``LIF`` takes it: a scalar for one per layer, a ``(n,)`` array for one
    per neuron (Lava's models compute the decay elementwise; lava-dl's netx passes arrays)."""
    arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=dtype)
    arr = arr.reshape(-1)
    return arr[0].item() if arr.size == 1 else arr


class StockLavaError(ParameterError):
    """The network uses a feature stock Lava ``LIF``/``Dense`` (or netx) cannot express."""


def check_stock(spec: NetworkSpec, where: str) -> None:
    if not isinstance(spec, NetworkSpec):
        raise ParameterError(f"{where}: expected a NetworkSpec, got {type(spec).__name__}")
    for k, ls in enumerate(spec.layers):
        if ls.spiking_bias is not None:
            raise StockLavaError(
                f"{where}: layer {k} has a spiking bias; stock Lava LIF/Dense cannot express it "
                "(deploy with lava_nt.converters.lava_graph.run_network instead)"
            )
        if ls.neuron.reset_subtract:
            raise StockLavaError(
                f"{where}: layer {k} resets by subtraction; stock Lava LIF resets to zero "
                "(deploy with lava_nt.converters.lava_graph.run_network instead)"
            )


@dataclass
class StockLavaNetwork:
    """A network of stock Lava processes only: per layer ``Dense(**dense)`` -> ``LIFReset(**lif)``.

    Attributes:
        n_in: input width.
        precision: "float" or "fixed".
        layers: per layer ``{"dense": {...}, "lif": {...}}`` keyword arguments of Lava's
            ``Dense`` and ``LIF`` (``shape`` and the reset schedule are added at build time).
    """

    n_in: int
    precision: str
    layers: list[dict] = field(default_factory=list)

    @property
    def sizes(self) -> list[int]:
        return [self.n_in] + [
            int(np.asarray(ld["dense"]["weights"]).shape[0]) for ld in self.layers
        ]

    def run(self, x, timeout: float | None = None, record: bool = False):
        """Run on binary input spikes ``x [T, B, n_in]``; returns a
        :class:`~lava_nt.converters.lava_graph.LavaRunResult` (torch time frame)."""
        return run_chain("stock", self, x, self.precision, timeout, record)


def to_stock_lava(spec: NetworkSpec, *, fold_gains: bool = True) -> StockLavaNetwork:
    """The stock-Lava (``LIF``/``Dense`` only) version of ``spec``.

    A float spec's gains are folded into its weights and biases (``fold_gains=True``; exact in
    real arithmetic). A fixed-point spec must already be gain-free (every ``gain_mant`` = 256:
    quantise with ``fold_gains=True``). Spiking biases and reset "subtract" raise
    :class:`StockLavaError`.

    Returns:
        A :class:`StockLavaNetwork`: ``n_in``, ``precision`` (``"float"`` or ``"fixed"``, as
        the spec) and ``layers``, one dict per layer with the keyword arguments of Lava's
        ``Dense`` (``"dense"``: ``weights``, and ``weight_exp`` / ``num_weight_bits`` in fixed
        point) and ``LIF`` (``"lif"``: ``du``, ``dv``, ``vth``, ``bias_mant``, ``bias_exp``;
        integers in fixed point, floats with ``bias_exp`` 0 in float). Nothing is built or run
        yet: :meth:`StockLavaNetwork.run` runs it on Lava and returns a
        :class:`~lava_nt.converters.lava_graph.LavaRunResult`.
    """
    check_stock(spec, "to_stock_lava")
    for k, ls in enumerate(spec.layers):
        if ls.has_delay:
            raise StockLavaError(
                f"to_stock_lava: layer {k} has synaptic delays; the stock chain is Dense -> LIF "
                "(deploy with lava_nt.converters.lava_graph.run_network, which uses DelayDense)"
            )
    layers = []
    if spec.fixed:
        for k, ls in enumerate(spec.layers):
            p = ls.neuron
            gm = np.asarray(p.gain_mant)
            if np.any(gm != GAIN_UNITY):
                raise StockLavaError(
                    f"to_stock_lava: layer {k} has gains (gain_mant != 256); stock Lava LIF has "
                    "none: quantise the float model with fold_gains=True"
                )
            n = ls.n
            layers.append(
                {
                    "dense": {
                        "weights": np.asarray(ls.weight, dtype=np.int64),
                        "weight_exp": int(ls.weight_exp),
                        "num_weight_bits": 8,
                    },
                    "lif": {
                        "du": _decay(p.du, np.int64),
                        "dv": _decay(p.dv, np.int64),
                        "vth": int(p.vth),
                        "bias_mant": np.broadcast_to(np.asarray(p.bias_mant), (n,)).astype(
                            np.int64
                        ),
                        "bias_exp": np.broadcast_to(np.asarray(p.bias_exp), (n,)).astype(np.int64),
                    },
                }
            )
        return StockLavaNetwork(spec.n_in, "fixed", layers)

    src = spec
    gains = [_per_neuron(ls.neuron.gain, ls.n) for ls in spec.layers]
    if any(np.any(g != 1.0) for g in gains):
        if not fold_gains:
            raise StockLavaError(
                "to_stock_lava: the network has gains != 1 and fold_gains=False; stock Lava LIF "
                "has no gain"
            )
        src = _fold(spec)
    for ls in src.layers:
        p = ls.neuron
        layers.append(
            {
                "dense": {"weights": np.asarray(ls.weight, dtype=np.float64)},
                "lif": {
                    "du": _decay(p.du, np.float64),
                    "dv": _decay(p.dv, np.float64),
                    "vth": _scalar(p.vth),
                    "bias_mant": _per_neuron(p.bias, ls.n),
                    "bias_exp": np.zeros(ls.n),
                },
            }
        )
    return StockLavaNetwork(spec.n_in, "float", layers)


def run_stock_lava(spec: NetworkSpec, x, precision: str | None = None, **kwargs):
    """``to_stock_lava(spec).run(x, ...)``; ``precision`` must match the spec if given."""
    net = to_stock_lava(spec)
    if precision is not None and precision != net.precision:
        raise ParameterError(
            f"run_stock_lava: precision={precision!r} but the spec is {net.precision}"
        )
    return net.run(x, **kwargs)
