"""The fixed-point readout bias' headroom (lava_nt.ondevice.rule.readout_headroom) and the one
preparation of a readout network for tuning (readout_setup), which lava-nt ondevice,
tune_on_device and the comparison study share; make_rule's conversion of eta_readout."""

from __future__ import annotations

import numpy as np
import pytest

from lava_nt.ondevice import (
    fixed_readout_rate,
    make_rule,
    measure_readout_targets,
    readout_headroom,
    readout_setup,
    run_twin,
)
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_input, random_spec

T = 8


def _fixed(seed=2):
    spec = random_spec(seed, (10, 8, 6), fixed=True, excitatory=(0, 1), readout=2)
    spec.readout.params = spec.readout.params._replace(bias_mant=np.array([4000, -37]),
                                                       bias_exp=np.array([0, 2]))  # fmt: skip
    return spec


def test_one_exponent_that_holds_the_larger_target():
    spec = _fixed()
    out = readout_headroom(spec, (-30_000, 100_000))  # need 100,000: 4095 << 5 = 131,040
    p = out.readout.params
    assert list(p.bias_exp) == [5, 5]
    # 4000 -> round(4000 / 32) = 125 (125 << 5 = 4000); -37 << 2 = -148 -> round(-4.625) = -5
    assert list(p.bias_mant) == [125, -5]
    assert list(spec.readout.params.bias_exp) == [0, 2]  # the input is not changed
    assert list(readout_headroom(spec, (10**7, 0)).readout.params.bias_exp) == [7, 7]  # at most 7
    # fraction 0: what the biases need now (4000 fits exponent 0; -148 too)
    assert list(readout_headroom(spec, (10**7, 0), 0.0).readout.params.bias_exp) == [0, 0]
    half = readout_headroom(spec, (-30_000, 100_000), 0.5).readout.params  # need 50,000
    assert list(half.bias_exp) == [4, 4]


def test_headroom_lets_the_readout_bias_grow_past_the_quantisers_range():
    """Twin, frozen spiking layers, a target far above the values: with the quantiser's
    exponent 0 the bias stops at 4095; with headroom it goes on and the value reaches the
    target's neighbourhood (the readout is leaky, ``c`` about 5: rate 0.1 converges)."""
    spec = _fixed(4)
    spec.readout.params = spec.readout.params._replace(bias_mant=np.array([0, 0]),
                                                       bias_exp=np.array([0, 0]))  # fmt: skip
    x = random_input(5, T, 6, 10)
    y = np.zeros(6, np.int64)
    on, off = measure_readout_targets(spec, x, y)
    tg = (on + 200_000, off - 200_000)
    kw = dict(eta_mant=0, eta_shift=0, readout_targets=tg, eta_readout=0.1,
              eta_readout_mant=None)  # fmt: skip
    plain = run_twin(spec, make_rule(spec, T, 2, **kw), x, y)
    roomy = readout_headroom(spec, tg)
    grown = run_twin(roomy, make_rule(roomy, T, 2, **kw), x, y)
    assert plain.readout_bias[0] == 4095  # saturated at the quantiser's range
    value = grown.readout_bias[0] << int(roomy.readout.params.bias_exp[0])
    assert value > 4095 * 8
    miss_plain, miss_grown = (abs(tg[0] - r.output[-1, -1, 0]) for r in (plain, grown))
    assert miss_grown < 0.05 * tg[0] < miss_plain


def test_setup_measures_the_targets_and_gives_fixed_point_headroom():
    spec = _fixed()
    x = random_input(3, T, 10, 10)
    y = np.arange(10) % 2
    out, tg = readout_setup(spec, x, y)
    assert tg == measure_readout_targets(spec, x, y)
    big = max(abs(tg[0]), abs(tg[1]))
    e = int(out.readout.params.bias_exp[0])
    assert 4095 << e >= big and (e == 0 or 4095 << (e - 1) < big)
    same, given = readout_setup(spec, x, y, (5, -5), headroom=None)
    assert same is spec and given == (5, -5)
    fl = random_spec(2, (10, 8, 6), excitatory=(0, 1), readout=2)
    out, tg = readout_setup(fl, x, y)
    assert out is fl and tg == measure_readout_targets(fl, x, y)  # float: no headroom
    plain = random_spec(2, (10, 8, 6))
    out, tg = readout_setup(plain, x, y)
    assert out is plain and tg is None


def test_make_rule_converts_eta_readout_with_the_error_shift():
    spec = readout_headroom(_fixed(), (100_000, 0))
    rule = make_rule(spec, T, 2, readout_targets=(100, -100), eta_readout=0.01,
                     eta_readout_mant=None)  # fmt: skip
    mant, shift = fixed_readout_rate(0.01, spec, rule.error_shift)
    assert rule.error_shift > 0
    assert np.array_equal(rule.readout_rate.eta_mant, mant) and rule.readout_rate.eta_shift == shift
    kept = make_rule(spec, T, 2, readout_targets=(100, -100), eta_readout=0.01)
    assert not np.any(kept.readout_rate.eta_mant)  # the default mantissa 0 keeps the bias


def test_errors():
    spec = _fixed()
    with pytest.raises(ParameterError, match="fixed-point spec with a readout"):
        readout_headroom(random_spec(2, (10, 8, 6), readout=2), (1, 0))
    with pytest.raises(ParameterError, match="fraction must be >= 0"):
        readout_headroom(spec, (1, 0), -1.0)
    with pytest.raises(ParameterError, match="two numbers"):
        readout_headroom(spec, (1, 0, 3))
    with pytest.raises(ParameterError, match="two numbers"):
        readout_headroom(spec, ("a", 0))
