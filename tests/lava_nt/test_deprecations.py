"""Renamed keywords (CHANGELOG "Unreleased"): the spiking-bias current's retention factor
``alpha`` is ``c_retention`` and every ``train_<x>`` flag is ``trainable_<x>``.

For one release the old keyword alone works, warns (DeprecationWarning naming the new keyword and
the release that removes the old one) and gives exactly what the new keyword gives; old and new
together are an error. Old state dicts, NIR metadata and model files (tests/converters/
test_model_file.py) with ``alpha`` still load.
"""

import warnings

import numpy as np
import pytest
import torch

from lava_nt._deprecation import (
    REMOVED_IN,
    TRAINABLE_FLAG_RENAMES,
    rename_kwargs,
    renamed_kwargs,
)
from lava_nt.nn import NTLayer, NTNetwork, SpikingBias
from lava_nt.nn.readout import Readout
from lava_nt.spec import ParameterError, spiking_bias_parameters
from lava_nt.testing import random_spec


def _message(old: str, new: str) -> str:
    return f"`{old}` is deprecated, use `{new}`; the old name will be removed in {REMOVED_IN}"


def _warned(fn, *args, **kwargs):
    """``(fn(*args, **kwargs), sorted DeprecationWarning messages it emitted)``."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, sorted(str(w.message) for w in rec if w.category is DeprecationWarning)


def _same_module(a: torch.nn.Module, b: torch.nn.Module) -> None:
    """Same tensors (bitwise) and the same trainable ones."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    assert [(n, p.requires_grad) for n, p in a.named_parameters()] == [
        (n, p.requires_grad) for n, p in b.named_parameters()
    ]


def test_rename_helper_warns_renames_and_refuses_both():
    kw = {"train_bias": False, "x": 1}
    with pytest.warns(DeprecationWarning) as rec:
        out = rename_kwargs(kw, TRAINABLE_FLAG_RENAMES, "here")
    assert out is kw and kw == {"x": 1, "trainable_bias": False}
    assert [str(w.message) for w in rec] == ["here: " + _message("train_bias", "trainable_bias")]
    with pytest.raises(ParameterError, match="both `train_bias` and `trainable_bias`"):
        rename_kwargs({"train_bias": 1, "trainable_bias": 1}, TRAINABLE_FLAG_RENAMES, "here")

    @renamed_kwargs({"old": "new"})
    def f(new=0):
        return new

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(new=3) == 3  # the new name: no warning
    with pytest.warns(DeprecationWarning, match=_message("old", "new")) as rec:
        assert f(old=4) == 4
    assert rec[0].filename == __file__


def test_spec_c_retention_old_keyword_and_attribute():
    new = spiking_bias_parameters(3, 6, w_b=0.5, c_retention=[0.2, 0.5, 0.9], group="contiguous")
    with pytest.warns(DeprecationWarning, match=_message("alpha", "c_retention")):
        old = spiking_bias_parameters(3, 6, w_b=0.5, alpha=[0.2, 0.5, 0.9], group="contiguous")
    np.testing.assert_array_equal(old.c_retention, new.c_retention)
    np.testing.assert_array_equal(old.group, new.group)
    with pytest.raises(ParameterError, match="both `alpha` and `c_retention`"):
        spiking_bias_parameters(3, 3, alpha=0.5, c_retention=0.5)
    with pytest.warns(DeprecationWarning, match="SpikingBiasParameters: `alpha` is deprecated"):
        assert new.alpha is new.c_retention


def test_spiking_bias_module_old_keywords():
    base = dict(n_in=6, n_target=8, m=2, sparsity=0.5, seed=1, w_b=0.3, dtype=torch.float64)
    new = SpikingBias(
        **base, c_retention=0.7, trainable_w_in=True, trainable_w_b=False,
        trainable_c_retention=True,
    )  # fmt: skip
    with pytest.warns(DeprecationWarning) as rec:
        old = SpikingBias(**base, alpha=0.7, train_w_in=True, train_w_b=False, train_alpha=True)
    assert sorted(str(w.message) for w in rec) == sorted(
        "SpikingBias: " + _message(o, n)
        for o, n in (
            ("alpha", "c_retention"),
            ("train_w_in", "trainable_w_in"),
            ("train_w_b", "trainable_w_b"),
            ("train_alpha", "trainable_c_retention"),
        )
    )
    _same_module(old, new)
    assert "trainable_c_retention=True" in repr(new) and "train_" not in repr(new)
    with pytest.raises(ParameterError, match="both `train_w_b` and `trainable_w_b`"):
        SpikingBias(**base, train_w_b=True, trainable_w_b=True)
    with pytest.raises(ParameterError, match="both `alpha` and `c_retention`"):
        SpikingBias(**base, alpha=0.5, c_retention=0.5)
    # set_trainable(alpha=...)
    with pytest.warns(DeprecationWarning, match="set_trainable: `alpha` is deprecated"):
        old.set_trainable(alpha=False)
    _same_module(old, new.set_trainable(c_retention=False))
    with pytest.warns(DeprecationWarning, match="`alpha` is deprecated, use `c_retention`"):
        assert old.alpha is old.c_retention
    # a state dict saved before the rename (key '...alpha') loads
    sd = {k.replace("c_retention", "alpha"): v for k, v in new.state_dict().items()}
    assert "alpha" in sd
    fresh = SpikingBias(**base, c_retention=0.1, trainable_w_in=True, trainable_w_b=False)
    fresh.load_state_dict(sd)
    _same_module(fresh, new)


def test_layer_readout_and_network_old_flags():
    msg = "NTLayer: " + _message("train_weight", "trainable_weight")
    with pytest.warns(DeprecationWarning, match=msg):
        old = NTLayer(5, 4, weight=np.ones((4, 5)), train_weight=False)
    new = NTLayer(5, 4, weight=np.ones((4, 5)), trainable_weight=False)
    _same_module(old, new)
    assert "trainable_weight=False" in repr(new)
    with pytest.raises(ParameterError, match="both"):
        NTLayer(5, 4, train_weight=False, trainable_weight=False)
    w = np.arange(12.0).reshape(3, 4)
    old, msgs = _warned(Readout, 4, 3, weight=w, train_weight=False, train_bias=True)
    assert msgs == [
        "Readout: " + _message(f"train_{k}", f"trainable_{k}") for k in ("bias", "weight")
    ]
    _same_module(old, Readout(4, 3, weight=w, trainable_weight=False, trainable_bias=True))

    spec = random_spec(2, [5, 8, 4], spiking_bias=True)
    flags = dict(weight=False, bias=False, gain=True, w_in=True, w_b=False, alpha=True)
    old, msgs = _warned(NTNetwork.from_spec, spec, **{f"train_{k}": v for k, v in flags.items()})
    assert msgs == sorted(
        "NTNetwork.from_spec: " + _message(f"train_{k}", TRAINABLE_FLAG_RENAMES[f"train_{k}"])
        for k in flags
    )
    new = NTNetwork.from_spec(
        spec, trainable_weight=False, trainable_bias=False, trainable_gain=True,
        trainable_w_in=True, trainable_w_b=False, trainable_c_retention=True,
    )  # fmt: skip
    _same_module(old, new)
    assert new.trainable_summary()["c_retention"] > 0
    with pytest.warns(DeprecationWarning, match="NTNetwork.set_trainable: `alpha`"):
        old.set_trainable(alpha=False, w_in=False)
    _same_module(old, new.set_trainable(c_retention=False, w_in=False))
    assert new.trainable_summary()["c_retention"] == 0


def test_lava_process_old_keyword():
    from lava_nt.processes.spiking_bias.process import SpikingBias as SpikingBiasProcess

    kw = dict(shape=(2,), n_target=4, w_b=[0.5, -0.5], group="contiguous")
    new = SpikingBiasProcess(**kw, c_retention=[0.25, 0.75])
    with pytest.warns(DeprecationWarning, match=_message("alpha", "c_retention")):
        old = SpikingBiasProcess(**kw, alpha=[0.25, 0.75])
    np.testing.assert_array_equal(old.c_retention.init, new.c_retention.init)
    np.testing.assert_array_equal(new.c_retention.init, [0.25, 0.75])
    with pytest.raises(ParameterError, match="both `alpha` and `c_retention`"):
        SpikingBiasProcess(**kw, alpha=0.5, c_retention=0.5)


def test_qat_trainable_kind_alpha():
    from lava_nt.qat import QATNetwork

    spec = random_spec(4, [6, 8, 4], spiking_bias=True)
    new = QATNetwork(spec, trainable={"c_retention": True})
    with pytest.warns(DeprecationWarning, match="QATNetwork: trainable: `alpha`"):
        old = QATNetwork(spec, trainable={"alpha": True})
    _same_module(old, new)
    assert new.trainable_summary()["c_retention"] > 0
    with pytest.raises(ParameterError, match="both"):
        QATNetwork(spec, trainable={"alpha": True, "c_retention": True})
    # a QAT state dict saved before the rename loads
    sd = {k.replace(".c_retention", ".alpha"): v for k, v in new.state_dict().items()}
    assert any(k.endswith(".alpha") for k in sd)
    fresh = QATNetwork(spec, trainable={"c_retention": True})
    with torch.no_grad():
        for layer in fresh.layers:
            if layer.has_sb:
                layer.c_retention.mul_(0.5)
    fresh.load_state_dict(sd)
    _same_module(fresh, new)


def test_nir_metadata_written_before_the_rename_is_read():
    from lava_nt.converters.nir_io import from_nir, to_nir

    spec = random_spec(5, [6, 8, 4], spiking_bias=True)
    graph = to_nir(spec)
    renamed = 0
    for node in graph.nodes.values():
        md = getattr(node, "metadata", None) or {}
        if "lava_nt_c_retention" in md:
            md["lava_nt_alpha"] = md.pop("lava_nt_c_retention")
            renamed += 1
    assert renamed == sum(ls.spiking_bias is not None for ls in spec.layers) > 0
    res = from_nir(graph)
    assert res.exact  # every layer came from the (old-named) metadata
    for la, lb in zip(spec.layers, res.spec.layers, strict=True):
        if la.spiking_bias is not None:
            np.testing.assert_array_equal(
                np.broadcast_to(la.spiking_bias.params.c_retention, (la.spiking_bias.m,)),
                lb.spiking_bias.params.c_retention,
            )
