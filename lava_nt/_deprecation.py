"""Renamed keyword arguments: the old name keeps working for one release.

Every rename of a public keyword goes through :func:`rename_kwargs` (or its decorator form
:func:`renamed_kwargs`), so the warning text and the both-given error are the same everywhere:

* the old keyword alone works as the new one and emits a :class:`DeprecationWarning`
  "`<old>` is deprecated, use `<new>`; the old name will be removed in 0.3";
* the old and the new keyword together raise a :class:`~lava_nt.spec.validation.ParameterError`.

The renames (CHANGELOG.md, "Unreleased"): the spiking-bias current's retention factor
``alpha`` is ``c_retention`` (``alpha`` is only the surrogate-gradient slope), and every trainable
flag ``train_<x>`` is ``trainable_<x>``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from lava_nt.spec.validation import ParameterError

#: The release that removes the deprecated names.
REMOVED_IN = "0.3"

#: ``SpikingBias`` (torch module) and ``NTNetwork.from_spec`` trainable flags.
TRAINABLE_FLAG_RENAMES = {
    "train_weight": "trainable_weight",
    "train_bias": "trainable_bias",
    "train_gain": "trainable_gain",
    "train_w_in": "trainable_w_in",
    "train_w_b": "trainable_w_b",
    "train_alpha": "trainable_c_retention",
}
#: The spiking-bias current's retention factor (thesis eq. 3).
C_RETENTION_RENAME = {"alpha": "c_retention"}


def deprecation_message(old: str, new: str, where: str | None = None) -> str:
    """The one warning text of a renamed keyword."""
    prefix = f"{where}: " if where else ""
    return (
        f"{prefix}`{old}` is deprecated, use `{new}`; the old name will be removed in {REMOVED_IN}"
    )


def rename_kwargs(
    kwargs: dict[str, Any], renames: Mapping[str, str], where: str, stacklevel: int = 3
) -> dict[str, Any]:
    """Replace, in place, every deprecated keyword of ``kwargs`` by its new name.

    Args:
        kwargs: the keyword arguments as given (modified in place and returned).
        renames: ``{old name: new name}``.
        where: the function or class, for the messages.
        stacklevel: of the warning (3: the caller of the function that calls this).

    Raises:
        ParameterError: both the old and the new name were given.
    """
    for old, new in renames.items():
        if old not in kwargs:
            continue
        if new in kwargs:
            raise ParameterError(
                f"{where}: got both `{old}` and `{new}`; `{old}` is the deprecated name of "
                f"`{new}`, pass only `{new}`"
            )
        warnings.warn(deprecation_message(old, new, where), DeprecationWarning, stacklevel)
        kwargs[new] = kwargs.pop(old)
    return kwargs


def renamed_kwargs(renames: Mapping[str, str], where: str | None = None) -> Callable:
    """Decorator: the function accepts the old keywords of ``renames`` (``{old: new}``) through
    :func:`rename_kwargs`. ``where`` defaults to the function's qualified name (``__init__``
    reports its class)."""

    def decorate(fn: Callable) -> Callable:
        name = where or fn.__qualname__.removesuffix(".__init__")

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if kwargs and not renames.keys().isdisjoint(kwargs):
                rename_kwargs(kwargs, renames, name, stacklevel=3)
            return fn(*args, **kwargs)

        return wrapper

    return decorate


def rename_state_dict_keys(state_dict: dict, prefix: str, renames: Mapping[str, str]) -> None:
    """In a ``_load_from_state_dict`` hook: move ``prefix + old`` to ``prefix + new`` (state
    dicts saved before the rename load unchanged)."""
    for old, new in renames.items():
        key = prefix + old
        if key in state_dict and prefix + new not in state_dict:
            state_dict[prefix + new] = state_dict.pop(key)


def warn_renamed_attribute(old: str, new: str, where: str) -> None:
    """The warning of a deprecated attribute read (``obj.<old>`` -> ``obj.<new>``)."""
    warnings.warn(deprecation_message(old, new, where), DeprecationWarning, stacklevel=3)
