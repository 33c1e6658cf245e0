"""Engine agreement report (lava_nt.converters.agreement).

One model with gains, biases and a volumetric spiking bias runs on all four engines (two Lava
runs of 60 samples). Engines with the same arithmetic agree exactly (torch fixed emulator == Lava
fixed bit for bit; torch float64 == Lava float), the float/fixed pairs measure the quantisation,
and the report's accuracies and prediction agreements equal what we compute from the raw spikes.
"""

import json

import numpy as np
import pytest
import torch

from lava_nt.converters.agreement import ENGINES, agreement, as_spike_input, predictions
from lava_nt.converters.model_file import load_model, save_model
from lava_nt.converters.quantize import quantize
from lava_nt.network import LayerSpec, NetworkSpec, SpikingBiasSpec, reference_run
from lava_nt.nn.fixed_emulator import emulate_fixed
from lava_nt.nn.network import NTNetwork
from lava_nt.spec import ntlif_parameters, spiking_bias_parameters


def model(seed=0):
    rng = np.random.default_rng(seed)
    n_in, n1, n2 = 24, 20, 12
    sb = SpikingBiasSpec(
        rng.normal(0, 0.4, (4, n_in)),
        spiking_bias_parameters(
            4,
            n1,
            du=1.0,
            dv=0.3,
            vth=1.0,
            w_b=[0.2, -0.2, 0.15, -0.1],
            c_retention=0.8,
            group="contiguous",
        ),  # fmt: skip
    )
    return NetworkSpec(
        n_in,
        [
            LayerSpec(rng.normal(0, 1 / np.sqrt(n_in), (n1, n_in)),
                      ntlif_parameters(n1, du=0.5, dv=0.2, bias=rng.normal(0, 0.1, n1),
                                       gain=rng.uniform(0.7, 1.3, n1)), sb),
            LayerSpec(rng.normal(0.05, 1 / np.sqrt(n1), (n2, n1)),
                      ntlif_parameters(n2, du=1.0, dv=0.1, reset="subtract")),
        ],
    )  # fmt: skip


def test_agreement_all_engines():
    spec = model()
    rng = np.random.default_rng(1)
    static = (rng.random((60, 24)) < 0.3).astype(np.float64)
    y = rng.integers(0, 2, 60)
    rep = agreement(spec, static, y, n_classes=2, T=15)
    assert set(rep.engines) == set(ENGINES)
    assert rep.n_samples == 60 and rep.T == 15 and rep.sizes == [24, 20, 12]
    fixed = rep.pair("torch_fixed", "lava_fixed")
    assert fixed["identical"] and fixed["output_match"] == 1.0
    assert rep.pair("torch_float", "lava_float")["output_match"] >= 0.999
    q = rep.pair("torch_float", "torch_fixed")
    print(rep.to_markdown())
    assert q["layer_match"][0] >= 0.98 and q["output_match"] >= 0.95
    # the report's numbers are what the raw spikes say
    x = as_spike_input(static, 15)
    ref = reference_run(spec, x)
    qspec, _ = quantize(spec)
    emu = emulate_fixed(qspec, torch.as_tensor(x)).numpy()
    assert rep.engines["torch_float"]["spikes"] == int(ref.sum())
    assert rep.engines["torch_fixed"]["spikes"] == int(emu.sum())
    assert q["output_match"] == pytest.approx(float(np.mean(ref == emu)))
    p_ref, p_emu = predictions(ref, 2), predictions(emu, 2)
    assert rep.engines["torch_float"]["accuracy"] == pytest.approx(float(np.mean(p_ref == y)))
    assert rep.engines["lava_fixed"]["accuracy"] == pytest.approx(float(np.mean(p_emu == y)))
    assert q["prediction_agreement"] == pytest.approx(float(np.mean(p_ref == p_emu)))
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["pairs"]["torch_fixed vs lava_fixed"]["identical"] is True
    assert "| lava_fixed |" in rep.to_markdown()


def test_agreement_inputs_and_sources(tmp_path):
    spec = model(2)
    x = (np.random.default_rng(3).random((10, 8, 24)) < 0.3).astype(np.float64)
    # a torch network is used as it is (its own dtype)
    net = NTNetwork.from_spec(spec, dtype=torch.float64)
    rep = agreement(net, x, engines=("torch_float", "torch_fixed"))
    with torch.no_grad():
        assert rep.engines["torch_float"]["spikes"] == int(net(torch.as_tensor(x)).sum())
    # a model file with an attached quantised spec uses that spec
    q, qrep = quantize(spec, power_of_two=True)
    path = tmp_path / "m.h5"
    save_model(path, spec, quantized=(q, qrep))
    rep2 = agreement(path, x, engines=("torch_fixed",))
    emu = emulate_fixed(load_model(path)[1].quantized, torch.as_tensor(x)).numpy()
    assert rep2.engines["torch_fixed"]["spikes"] == int(emu.sum())
    assert rep2.quantization["scales"] == [lq.scale for lq in qrep.layers]
    # a fixed spec runs on the fixed engines only
    rep3 = agreement(q, x, engines=("torch_float", "torch_fixed"))
    assert list(rep3.engines) == ["torch_fixed"]
    with pytest.raises(ValueError, match="needs the number of steps"):
        agreement(spec, x[0], engines=("torch_fixed",))
    with pytest.raises(ValueError, match="binary"):
        agreement(spec, x * 2, engines=("torch_fixed",))
    with pytest.raises(ValueError, match="unknown engine"):
        agreement(spec, x, engines=("loihi",))
    with pytest.raises(ValueError, match="labels"):
        agreement(spec, x, y=np.zeros(3, dtype=int), engines=("torch_fixed",))


@pytest.mark.parametrize("T", [None, 0, -2, True, "5", 2.0])
def test_static_input_needs_an_integer_T(T):
    from lava_nt.converters.agreement import as_spike_input
    from lava_nt.spec.validation import ParameterError

    with pytest.raises(ParameterError, match="integer >= 1"):
        as_spike_input(np.zeros((3, 4)), T)


def test_class_count_comes_from_the_model_and_labels_are_checked():
    """No silent default of 2 classes: a 3-class model's count is its own; an unknown count with
    labels is an error naming n_classes; a label outside the classes is an error."""
    from lava_nt.builder import build_network

    net = build_network(12, [10], n_classes=3, population=2, seed=0)
    rng = np.random.default_rng(0)
    x = (rng.random((8, 5, 12)) < 0.4).astype(np.float64)
    y = np.array([0, 1, 2, 2, 1])
    rep = agreement(net, x, y, engines=("torch_float",))
    assert rep.n_classes == 3
    with pytest.raises(ValueError, match="n_classes=2 but the model codes 3"):
        agreement(net, x, y, n_classes=2, engines=("torch_float",))
    spec = net.to_spec()
    with pytest.raises(ValueError, match="pass n_classes=N"):
        agreement(spec, x, y, engines=("torch_float",))
    assert agreement(spec, x, engines=("torch_float",)).n_classes == 6  # one per neuron
    with pytest.raises(ValueError, match="label 3 is outside the model's 3 classes"):
        agreement(net, x, np.array([0, 1, 2, 3, 1]), engines=("torch_float",))


def readout_graded_spec(seed=0):
    """10 graded inputs -> 16 -> 12 -> a 3-unit integrator readout read as the mean."""
    from lava_nt.testing import random_spec

    return random_spec(seed, (10, 16, 12), du=(1.0, 0.5), dv=(0.2, 0.1), readout=3,
                       readout_reduce="mean", graded=True, weight_scale=(2.0, 1.5))  # fmt: skip


def test_readout_network_with_graded_input_on_all_engines(tmp_path):
    """Decisions from the readout values; torch float64 = Lava float within the stated
    tolerance, the emulator = Lava fixed value for value, both on round(x * S) with the scale
    the shared rule picks; every number equals what the engines say on their own."""
    from lava_nt.converters.agreement import FLOAT_READOUT_TOLERANCE
    from lava_nt.converters.quantize.scale import encode_graded_input, graded_input_scale
    from lava_nt.decode import output_predictions
    from lava_nt.spec.readout import reduce_readout

    spec = readout_graded_spec()
    rng = np.random.default_rng(1)
    static = rng.random((20, 10))
    y = rng.integers(0, 3, 20)
    rep = agreement(spec, static, y, T=8)
    S = graded_input_scale(spec, static)
    assert S == 128.0 and rep.input_scale == S  # max |x| in (255/256, 1): 2**7
    assert rep.readout == {"n": 3, "reduce": "mean"} and rep.n_classes == 3
    x = np.broadcast_to(static[None], (8, 20, 10))
    float_values = reduce_readout(reference_run(spec, x), "mean")
    q, _ = quantize(spec, input_scale=S)
    fixed_values = reduce_readout(emulate_fixed(q, encode_graded_input(x, S)).numpy(), "mean")
    tol = FLOAT_READOUT_TOLERANCE * max(1.0, np.abs(float_values).max())
    for e in ("torch_float", "lava_float"):
        np.testing.assert_allclose(rep.readout_values[e], float_values, rtol=0, atol=tol)
    for e in ("torch_fixed", "lava_fixed"):
        np.testing.assert_array_equal(rep.readout_values[e], fixed_values)
    assert np.abs(fixed_values).max() > 1000  # integer units, not silent
    fl, fx = rep.pair("torch_float", "lava_float"), rep.pair("torch_fixed", "lava_fixed")
    assert fl["readout_agree"] and fl["readout_max_abs_difference"] <= tol
    assert fx["readout_agree"] and fx["identical"] and fx["readout_max_abs_difference"] == 0
    assert rep.pair("torch_float", "torch_fixed")["output_match"] is None  # other units
    for e, values in (("torch_float", float_values), ("lava_fixed", fixed_values)):
        pred = output_predictions(values[None], 3, "last")  # the values are the class scores
        np.testing.assert_array_equal(rep.predictions[e], pred)
        assert rep.engines[e]["accuracy"] == pytest.approx(float(np.mean(pred == y)))
    d = json.loads(rep.to_json())
    assert np.array(d["readout_values"]["lava_fixed"]).shape == (20, 3)
    assert d["input_scale"] == 128.0
    text = rep.to_markdown()
    assert "readout of 3 units" in text and "round(x * 128)" in text
    # an attached quantisation's input scale is the one used
    q64, r64 = quantize(spec, input_scale=64.0)
    path = tmp_path / "g.h5"
    save_model(path, spec, quantized=(q64, r64))
    rep2 = agreement(path, static, T=8, engines=("torch_fixed",))
    want = reduce_readout(emulate_fixed(q64, encode_graded_input(x, 64.0)).numpy(), "mean")
    assert rep2.input_scale == 64.0
    np.testing.assert_array_equal(rep2.readout_values["torch_fixed"], want)
    # a fixed-point spec alone takes integers
    with pytest.raises(ValueError, match="integers"):
        agreement(q64, static, T=8, engines=("torch_fixed",))


def test_graded_input_scale_rule():
    from lava_nt.converters.quantize.scale import (
        encode_graded_input,
        fixed_point_input,
        graded_input_scale,
    )
    from lava_nt.testing import random_spec

    graded, spiking = random_spec(0, (4, 3), graded=True), random_spec(0, (4, 3))
    assert graded_input_scale(graded, [[0.5, -2.0]]) == 64.0  # 2 * 64 <= 255 < 2 * 128
    assert graded_input_scale(graded, [[0.25, 1.0]]) == 128.0
    assert graded_input_scale(graded, [[3.0, -7.0]]) is None  # integers already
    assert graded_input_scale(spiking, [[0.5]]) is None
    np.testing.assert_array_equal(encode_graded_input([0.5, -0.5, 0.26], 2.0), [1, -1, 1])
    rep = types_namespace(input_scale=4.0)
    np.testing.assert_array_equal(fixed_point_input(graded, rep, [[0.3]]), [[1.0]])
    np.testing.assert_array_equal(fixed_point_input(graded, None, [[2.4]]), [[2.0]])
    np.testing.assert_array_equal(fixed_point_input(spiking, rep, [[1.0]]), [[1.0]])


def types_namespace(**kw):
    import types

    return types.SimpleNamespace(**kw)
