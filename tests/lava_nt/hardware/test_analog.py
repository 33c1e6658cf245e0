"""The JLPEA 2022 synapse model (eq. 14-16), its inversion, power domains and the DAC."""

from __future__ import annotations

import numpy as np
import pytest

from lava_nt.converters.agreement import predictions
from lava_nt.hardware.analog import (
    AnalogRangeError,
    MirrorModel,
    dac_levels,
    map_gains,
    power_domains,
    quantize_voltage,
)
from lava_nt.hardware.analog_accuracy import analog_accuracy, plot_analog
from lava_nt.network import reference_run
from lava_nt.spec.validation import ParameterError

V = np.linspace(0.5, 1.0, 201)


@pytest.mark.parametrize("beta,r_s,v_th", [(200e-6, 100e3, 0.35), (1e-3, 5e3, 0.42)])
def test_current_solves_eq14_and_eq15(beta, r_s, v_th):
    m = MirrorModel(beta=beta, r_s=r_s, v_th=v_th)
    i = m.current(V)
    v_gs = V - i * r_s  # eq. (15)
    assert np.all(v_gs > v_th)  # saturation: the physical root
    np.testing.assert_allclose(i, 0.5 * beta * (v_gs - v_th) ** 2, rtol=1e-10)  # eq. (14)
    # eq. (16) as printed (k = beta/2, minus root)
    np.testing.assert_allclose(i, m.current_paper_form(V), rtol=1e-8)


def test_current_limits():
    m = MirrorModel(r_s=0.0)
    np.testing.assert_allclose(m.current(V), 0.5 * m.beta * (V - m.v_th) ** 2, rtol=1e-12)
    m = MirrorModel()
    assert m.current(m.v_th) == 0 and m.current(0.1) == 0
    # large R_S: I -> (V_DD - V_th) / R_S
    big = MirrorModel(r_s=1e9)
    assert big.current(1.0) == pytest.approx((1.0 - big.v_th) / 1e9, rel=1e-2)


def test_forward_inverse_round_trip_and_monotone():
    m = MirrorModel()
    i = m.current(V)
    assert np.all(np.diff(i) > 0)
    np.testing.assert_allclose(m.supply(i), V, atol=1e-12)
    g = m.gain(V)
    assert m.gain(m.v_ref) == pytest.approx(1.0)
    v_back, clipped = m.supply_for_gain(g)
    np.testing.assert_allclose(v_back, V, atol=1e-12)
    assert not clipped.any()
    lo, hi = m.gain_range
    assert lo == pytest.approx(g[0]) and hi == pytest.approx(g[-1]) and lo < 1 < hi


def test_range_errors_and_clipping():
    m = MirrorModel()
    lo, hi = m.gain_range
    with pytest.raises(AnalogRangeError, match="outside the range"):
        m.supply_for_gain([1.0, hi * 1.01])
    with pytest.raises(AnalogRangeError):
        m.supply_for_gain([-0.5])
    v, clipped = m.supply_for_gain([lo / 2, 1.0, hi * 2], out_of_range="clip")
    np.testing.assert_allclose(v, [m.v_min, m.v_ref, m.v_max], atol=1e-12)
    assert clipped.tolist() == [True, False, True]
    with pytest.raises(AnalogRangeError):
        m.supply([-1e-6])


@pytest.mark.parametrize(
    "kw",
    [dict(v_th=0.5), dict(v_min=1.0), dict(v_ref=1.2), dict(beta=0.0), dict(r_s=-1.0)],
)
def test_invalid_model(kw):
    with pytest.raises(ParameterError):
        MirrorModel(**kw)


def test_dac_levels_and_quantisation():
    lv = dac_levels(2, 0.5, 1.0)
    np.testing.assert_allclose(lv, [0.5, 0.5 + 1 / 6, 0.5 + 2 / 6, 1.0])
    assert dac_levels(6).size == 64
    np.testing.assert_allclose(np.diff(dac_levels(6)), 0.5 / 63)
    q = quantize_voltage([0.55, 0.6, 0.99, 1.2, 0.3], 2, 0.5, 1.0)
    np.testing.assert_allclose(q, [0.5, 0.5 + 1 / 6, 1.0, 1.0, 0.5])
    # every quantised voltage is a level, within half a step
    v = np.linspace(0.5, 1.0, 97)
    qv = quantize_voltage(v, 3)
    assert np.all(np.isin(np.round(qv, 12), np.round(dac_levels(3), 12)))
    assert np.max(np.abs(qv - v)) <= 0.5 * 0.5 / 7 + 1e-12
    for bad in (0, 25, 1.5, True):
        with pytest.raises(ParameterError):
            dac_levels(bad)


def test_power_domains(spec342):
    d = power_domains(spec342, "auto")
    assert d[0].tolist() == [0, 0, 1, 1] and d[1].tolist() == [0, 1]
    d = power_domains(spec342, "volumetric")
    assert d[0].tolist() == [0, 0, 1, 1] and d[1].tolist() == [0, 0]
    d = power_domains(spec342, "layer")
    assert d[0].tolist() == [0, 0, 0, 0] and d[1].tolist() == [0, 0]
    d = power_domains(spec342, "neuron")
    assert d[0].tolist() == [0, 1, 2, 3]
    d = power_domains(spec342, 3)
    assert d[0].tolist() == [0, 0, 0, 1] and d[1].tolist() == [0, 0]
    d = power_domains(spec342, [np.array([5, 5, 9, 5]), np.array([0, 0])])
    assert d[0].tolist() == [0, 0, 1, 0]
    with pytest.raises(ParameterError):
        power_domains(spec342, "chip")
    with pytest.raises(ParameterError):
        power_domains(spec342, [np.zeros(4, int)])


def test_map_gains_domains_and_dac(make_spec):
    spec = make_spec(gain0=[0.8, 1.2, 1.0, 1.1])
    m = MirrorModel()
    mp = map_gains(spec, m, domains="auto", dac_bits=4)
    la = mp.layers[0]
    np.testing.assert_allclose(la.domain_gain, [1.0, 1.05])
    np.testing.assert_allclose(la.voltage, m.supply_for_gain([1.0, 1.05])[0])
    np.testing.assert_allclose(la.gain_voltage, [1.0, 1.0, 1.05, 1.05])
    np.testing.assert_allclose(la.dac_voltage, quantize_voltage(la.voltage, 4))
    np.testing.assert_allclose(la.gain_dac, m.gain(la.dac_voltage)[[0, 0, 1, 1]])
    assert la.errors()["domain"]["max"] == pytest.approx(0.2)
    assert mp.n_domains == 4 and mp.n_clipped == 0
    # per-neuron domains, no DAC: the gains come back exactly
    mp = map_gains(spec, m, domains="neuron", dac_bits=None)
    np.testing.assert_allclose(mp.layers[0].gain_dac, [0.8, 1.2, 1.0, 1.1], rtol=1e-12)
    new = mp.spec_with(spec, "dac")
    np.testing.assert_allclose(new.layers[0].neuron.gain, [0.8, 1.2, 1.0, 1.1], rtol=1e-12)
    # mean of voltages instead of mean gain
    mv = map_gains(spec, m, domains="layer", dac_bits=None, domain_value="mean_voltage")
    np.testing.assert_allclose(
        mv.layers[0].voltage, [np.mean(m.supply_for_gain([0.8, 1.2, 1.0, 1.1])[0])]
    )


def test_map_gains_out_of_range(make_spec):
    spec = make_spec(gain0=[0.1, 1.0, 1.0, 1.0])
    with pytest.raises(AnalogRangeError, match="layer 0"):
        map_gains(spec, domains="neuron", out_of_range="error")
    mp = map_gains(spec, domains="neuron", out_of_range="clip", dac_bits=None)
    assert mp.n_clipped == 1
    assert mp.layers[0].gain_voltage[0] == pytest.approx(MirrorModel().gain_range[0])


def test_analog_accuracy_small_task(make_spec, tmp_path):
    spec = make_spec(gain0=[0.9, 1.3, 0.7, 1.1])
    rng = np.random.default_rng(1)
    x = (rng.random((15, 40, 3)) < 0.5).astype(float)
    y = rng.integers(0, 2, 40)
    res = analog_accuracy(spec, x, y, n_classes=2, domains="neuron", dac_bits=None)
    direct = float(np.mean(predictions(reference_run(spec, x), 2) == y))
    assert res.accuracy["tuned"] == pytest.approx(direct)
    assert res.accuracy["voltage"] == res.accuracy["tuned"]
    assert "dac" not in res.accuracy
    res = analog_accuracy(spec, x, y, n_classes=2, domains="layer", dac_bits=3)
    assert set(res.accuracy) == {"tuned", "domain", "voltage", "dac"}
    assert res.agreement["tuned"] == 1.0 and res.spike_match["tuned"] == 1.0
    assert "1.08 pJ/spike" in res.to_markdown()
    d = res.to_dict()
    assert d["mapping"]["dac_bits"] == 3
    p = plot_analog(res.mapping, tmp_path / "analog.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_analog_needs_float(make_spec):
    from lava_nt.converters.quantize import quantize

    fixed, _ = quantize(make_spec())
    with pytest.raises(ParameterError):
        map_gains(fixed)
