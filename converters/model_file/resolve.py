"""One way to accept "a model": a :class:`~lava_nt.network.NetworkSpec`, an
:class:`~lava_nt.nn.network.NTNetwork` or the path of a model file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from lava_nt.converters.model_file.read import load_model
from lava_nt.converters.model_file.schema import ModelInfo
from lava_nt.converters.model_file.write import _is_ntnetwork
from lava_nt.network import NetworkSpec
from lava_nt.spec.validation import ParameterError

__all__ = ["ResolvedModel", "resolve_model"]


@dataclass(frozen=True)
class ResolvedModel:
    """What :func:`resolve_model` found.

    Attributes:
        spec: the network as a :class:`~lava_nt.network.NetworkSpec` (float or fixed point).
        info: the model file's :class:`~lava_nt.converters.model_file.schema.ModelInfo` when a
            path was given, else None.
        net: the ``NTNetwork`` when one was given, else None.
        label: the path as given, or the type name of the object.
    """

    spec: NetworkSpec
    info: ModelInfo | None
    net: Any
    label: str

    @property
    def n_classes(self) -> int | None:
        """The output coding's class count the model records (model file or ``NTNetwork``)."""
        if self.info is not None:
            return self.info.n_classes
        return getattr(self.net, "n_classes", None)


def resolve_model(model, where: str, error: type[Exception] = ParameterError) -> ResolvedModel:
    """``model`` (a NetworkSpec, an NTNetwork or a model file path, loaded and validated by
    :func:`~lava_nt.converters.model_file.load_model`) as a :class:`ResolvedModel`; anything
    else raises ``error`` naming ``where``."""
    info = net = None
    label = type(model).__name__
    obj = model
    if isinstance(obj, str | os.PathLike):
        label = str(obj)
        obj, info = load_model(obj)
    elif _is_ntnetwork(obj):
        net = obj
        obj = net.to_spec()
    if not isinstance(obj, NetworkSpec):
        raise error(
            f"{where}: expected a NetworkSpec, an NTNetwork or a model file path, got {label}"
        )
    return ResolvedModel(obj, info, net, label)
