"""Lava process graph (converters.lava_graph.run_network) vs the numpy reference
(lava_nt.network.reference_run), float and fixed point.

Random 3-layer networks mix per-neuron gains and biases, both reset modes, per-neuron, volumetric
(contiguous) and explicitly grouped spiking biases with sparse input matrices. 100 samples x 25
steps run in ONE long Lava run per precision (per-sample reset inside the run). Thresholds are
calibrated on the reference so that every layer fires at a moderate rate, which keeps the
comparison meaningful. Sample 0 is a dense, high-activity sample: the sample after it must be
unaffected (the per-sample reset works), which we also check against a run without resets.
"""

from dataclasses import replace

import numpy as np
import pytest

from lava_nt.converters.lava_graph import (
    check_input,
    run_network,
    schedule,
    source_data,
    to_torch_frame,
)
from lava_nt.network import LayerSpec, NetworkSpec, reference_run
from lava_nt.spec import (
    ParameterError,
    fixed_ntlif_parameters,
    ntlif_parameters,
)
from lava_nt.testing import random_spec

SAMPLES, T, N_IN = 100, 25, 32
SIZES = (24, 20, 10)
TARGET_RATE = 0.15
BIAS_TARGET_RATE = 0.2
KINDS = ("per_neuron", "volumetric", "grouped")  # volumetric: 5 bias neurons, groups of 4


def _bisect(make, s_in, n_in, fixed, lo, hi, which, target, integer):
    """Threshold in [lo, hi] whose single-layer reference rate of ``which`` is near ``target``."""
    for _ in range(14):
        mid = (lo + hi) // 2 if integer else 0.5 * (lo + hi)
        layer = make(mid)
        _, rec = reference_run(NetworkSpec(n_in, [layer], fixed=fixed), s_in, record=True)
        if rec[0][which].mean() > target:
            lo = mid
        else:
            hi = mid
        if integer and hi - lo <= 1:
            break
    return hi


def _calibrated(spec: NetworkSpec, x: np.ndarray) -> NetworkSpec:
    """``spec`` with every layer's bias-neuron and neuron thresholds bisected, layer by layer on
    the reference run of ``x``, to the target rates."""
    fixed, layers, s_in = spec.fixed, [], x
    lo, hi, default_vth = (1, 2**17 - 1, 1000) if fixed else (0.05, 20.0, 1.0)
    for layer in spec.layers:
        n_prev = layer.weight.shape[1]

        def with_vth(vth, vth_b, layer=layer):
            sb = layer.spiking_bias
            sb = replace(sb, params=sb.params._replace(vth=vth_b))
            return replace(layer, neuron=layer.neuron._replace(vth=vth), spiking_bias=sb)

        vth_b = _bisect(
            lambda v: with_vth(default_vth, v),
            s_in, n_prev, fixed, lo, hi, "bias_spikes", BIAS_TARGET_RATE, fixed,
        )  # fmt: skip
        vth = _bisect(
            lambda v, vth_b=vth_b: with_vth(v, vth_b),
            s_in, n_prev, fixed, lo, hi, "spikes", TARGET_RATE, fixed,
        )  # fmt: skip
        layer = with_vth(vth, vth_b)
        s_in = reference_run(NetworkSpec(n_prev, [layer], fixed=fixed), s_in)
        layers.append(layer)
    return NetworkSpec(spec.n_in, layers, fixed=fixed)


def _random_float_spec(seed: int, x) -> NetworkSpec:
    """Per-neuron, volumetric (contiguous) and explicitly grouped spiking biases with 50 % masks
    (:func:`lava_nt.testing.random_spec`), thresholds calibrated on ``x``."""
    spec = random_spec(
        seed,
        (N_IN, *SIZES),
        spiking_bias=KINDS,
        sb_density=0.5,
        resets=("zero", "subtract"),
        sb_mixed_signs=True,
        weight_scale=0.5,
    )
    return _calibrated(spec, x)


def _random_fixed_spec(seed: int, x) -> NetworkSpec:
    """As :func:`_random_float_spec` in fixed point: full 8-bit signed weights and ``w_in``,
    weight and ``w_in`` exponents of both signs, bias exponents 2..4."""
    spec = random_spec(
        seed,
        (N_IN, *SIZES),
        fixed=True,
        spiking_bias=KINDS,
        sb_density=0.5,
        resets=("zero", "subtract"),
        sb_mixed_signs=True,
        weight_scale=256,
        sb_weight_scale=256,
        weight_exp=(1, -1, 0),
        w_in_exp=(-1, 0, 1),
        bias_exp=(2, 4, 3),
    )
    return _calibrated(spec, x)


def _spikes(rng) -> np.ndarray:
    p = rng.uniform(0.05, 0.3, (1, SAMPLES, N_IN))
    x = (rng.random((T, SAMPLES, N_IN)) < p).astype(np.float64)
    x[:, 0] = 1.0  # sample 0: every input spikes every step (high activity)
    return x


def _assert_moderate(s, name):
    rate = float(np.mean(s))
    assert 0.05 <= rate <= 0.3, f"{name}: firing rate {rate:.3f} outside 5-30%"
    assert np.any(s.sum(axis=(0, 1)) > 0), f"{name}: every neuron is silent"


def _compare(spec, x, lava, exact_current: bool):
    ref_out, ref = reference_run(spec, x, record=True)
    np.testing.assert_array_equal(lava.output, ref_out)
    np.testing.assert_array_equal(lava["spikes"], ref_out)
    for k, rec in enumerate(ref):
        got = lava.layers[k]
        _assert_moderate(rec["spikes"], f"layer {k}")
        np.testing.assert_array_equal(got["spikes"], rec["spikes"], err_msg=f"layer {k} spikes")
        _assert_moderate(rec["bias_spikes"], f"layer {k} bias neurons")
        np.testing.assert_array_equal(
            got["bias_spikes"], rec["bias_spikes"], err_msg=f"layer {k} bias spikes"
        )
        assert np.any(rec["bias_current"] > 0) and np.any(rec["bias_current"] < 0)
        if exact_current:
            np.testing.assert_array_equal(got["bias_current"], rec["bias_current"])
        else:
            np.testing.assert_allclose(got["bias_current"], rec["bias_current"], rtol=0, atol=1e-9)
    return ref


def _check_reset_isolates_samples(spec, x, lava):
    """Sample 1 follows the high-activity sample 0 and equals a run of sample 1 alone; without the
    per-sample reset (state carried over from sample 0) it would differ."""
    alone = reference_run(spec, x[:, 1:2])
    np.testing.assert_array_equal(lava.output[:, 1:2], alone)
    carried = reference_run(spec, np.concatenate([x[:, 0:1], x[:, 1:2]], axis=0))[T:]
    assert not np.array_equal(carried, alone), "sample 0 does not influence sample 1 without reset"


def test_float_network_equals_reference():
    x = _spikes(np.random.default_rng(7))
    spec = _random_float_spec(7, x)
    lava = run_network(spec, x, precision="float", record=True)
    assert lava.steps == SAMPLES * T + len(SIZES) and lava.window == T  # back to back
    _compare(spec, x, lava, exact_current=False)
    _check_reset_isolates_samples(spec, x, lava)


def test_fixed_network_equals_reference_bit_exact():
    x = _spikes(np.random.default_rng(8))
    spec = _random_fixed_spec(8, x)
    lava = run_network(spec, x.astype(bool), precision="fixed", record=True)
    _compare(spec, x, lava, exact_current=True)
    _check_reset_isolates_samples(spec, x, lava)


def test_output_only_run_matches_recorded_run():
    """Without ``record`` only the last layer is tapped; short input, fixed point."""
    rng = np.random.default_rng(9)
    x = _spikes(rng)[:, :12]
    spec = _random_fixed_spec(9, _spikes(rng))
    lava = run_network(spec, x, precision="fixed")
    assert lava.layers == []
    np.testing.assert_array_equal(lava.output, reference_run(spec, x))


# ---- time frame helpers (no Lava) ---------------------------------------------------------------
def test_source_layout_and_torch_frame_are_inverse():
    rng = np.random.default_rng(0)
    x = (rng.random((4, 3, 5)) < 0.5).astype(float)
    depth = 2
    data = source_data(x, depth)  # [n_in, B * T + depth]
    L, steps = schedule(4, 3, depth)
    assert (L, steps) == (4, 3 * 4 + depth)
    assert data.shape == (5, steps)
    # the source sends data[:, j] at Lava step index j; layer k sees it k steps later
    lava_frame = np.zeros((steps + depth, 5))
    lava_frame[depth : depth + steps] = data.T
    np.testing.assert_array_equal(to_torch_frame(lava_frame, depth, 4, 3, L), x)
    assert np.all(data.T[3 * 4 :] == 0)  # depth drain steps after the last sample
    # per-sample windows (lava-dl netx): each sample followed by depth zero steps
    data = source_data(x, depth, back_to_back=False)
    L, steps = schedule(4, 3, depth, back_to_back=False)
    assert (L, steps) == (4 + depth, 3 * (4 + depth)) and data.shape == (5, steps)
    lava_frame = np.zeros((steps + depth, 5))
    lava_frame[depth : depth + steps] = data.T
    np.testing.assert_array_equal(to_torch_frame(lava_frame, depth, 4, 3, L), x)
    assert np.all(data.T.reshape(3, L, 5)[:, 4:] == 0)


# ---- bad input ----------------------------------------------------------------------------------
def _tiny_spec(fixed=False):
    if fixed:
        layer = LayerSpec(np.ones((2, 3), int), fixed_ntlif_parameters(2, vth=10))
    else:
        layer = LayerSpec(np.ones((2, 3)), ntlif_parameters(2, vth=1.0))
    return NetworkSpec(3, [layer], fixed=fixed)


@pytest.mark.parametrize(
    "x, match",
    [
        (np.zeros((5, 3)), r"\[T, B, 3\]"),
        (np.zeros((5, 2, 4)), r"\[T, B, 3\]"),
        (np.zeros((0, 2, 3)), r"\[T, B, 3\]"),
        (np.full((5, 2, 3), 0.5), "binary"),
        (np.full((5, 2, 3), 2), "binary"),
        (np.full((5, 2, 3), np.nan), "binary"),
        ([[[0, 1, 0]]], "numpy array"),
        (np.array([[["a", "b", "c"]]]), "numeric"),
    ],
)
def test_bad_input_raises(x, match):
    with pytest.raises(ParameterError, match=match):
        run_network(_tiny_spec(), x)


def test_bad_precision_and_spec_raise():
    x = np.zeros((5, 2, 3))
    with pytest.raises(ParameterError, match="precision"):
        run_network(_tiny_spec(), x, precision="double")
    with pytest.raises(ParameterError, match="spec.fixed=False"):
        run_network(_tiny_spec(), x, precision="fixed")
    with pytest.raises(ParameterError, match="spec.fixed=True"):
        run_network(_tiny_spec(fixed=True), x, precision="float")
    with pytest.raises(ParameterError, match="NetworkSpec"):
        run_network("not a spec", x)
    spec = _tiny_spec(fixed=True)
    spec.layers[0].weight = np.full((2, 3), 300)
    with pytest.raises(ParameterError, match=r"\[-256, 255\]"):
        run_network(spec, x, precision="fixed")
    spec.layers[0].weight = np.full((2, 3), 1.5)
    with pytest.raises(ParameterError, match="integer"):
        run_network(spec, x, precision="fixed")
    spec.layers[0].weight = np.ones((2, 3), int)
    spec.layers[0].weight_exp = 9
    with pytest.raises(ParameterError, match="exponent"):
        run_network(spec, x, precision="fixed")
    assert check_input(_tiny_spec(), np.ones((1, 1, 3), bool)).dtype == np.float64


# ---- several networks in one runtime -------------------------------------------------------------
def test_networks_in_one_runtime_equal_their_own_runs():
    """A float network, a fixed-point one and a deeper float network with a readout share one
    source and one Lava runtime; each equals its reference (the drain is the deepest one's)."""
    from lava_nt.converters.lava_graph import run_networks
    from lava_nt.testing import random_spec as rs

    x = _spikes(np.random.default_rng(7))
    fl = _random_float_spec(7, x)
    fx = _random_fixed_spec(8, x)
    deep = rs(12, (N_IN, 16, 12, 8, 6), weight_scale=0.8, readout=3)
    assert len(deep.layers) + 1 > len(SIZES)  # deeper: its drain sets the run's length
    res = run_networks([(fl, "float"), (fx, "fixed"), (deep, "float")], x, record=True)
    assert [r.precision for r in res] == ["float", "fixed", "float"]
    assert {r.steps for r in res} == {SAMPLES * T + len(deep.layers) + 1}
    _compare(fl, x, res[0], exact_current=False)
    _compare(fx, x, res[1], exact_current=True)
    ref_out, ref = reference_run(deep, x, record=True)
    np.testing.assert_allclose(res[2].output, ref_out, rtol=0, atol=1e-9)
    for k, rec in enumerate(ref):
        np.testing.assert_array_equal(res[2].layers[k]["spikes"], rec["spikes"])
    assert res[2].has_readout and np.any(ref[-1]["spikes"])


def test_networks_in_one_runtime_refuse_mismatched_inputs():
    from lava_nt.converters.lava_graph import run_networks

    x = np.zeros((5, 2, 3))
    other = NetworkSpec(4, [LayerSpec(np.ones((2, 4)), ntlif_parameters(2, vth=1.0))])
    with pytest.raises(ParameterError, match="no networks"):
        run_networks([], x)
    with pytest.raises(ParameterError, match=r"run_networks\[1\].*spec.fixed=False"):
        run_networks([(_tiny_spec(), "float"), (_tiny_spec(), "fixed")], x)
    with pytest.raises(ParameterError, match="same input"):
        run_networks([(_tiny_spec(), "float"), (other, "float")], x)
