"""The quantiser's current bound for graded input: the first layer's 24-bit current must hold
every input at the integer peak (default 255, the input-scale rule's 8-bit range), not at 1 as
for spikes; with the old bound the current wraps and fixed point loses the float network."""

import numpy as np
import pytest

from lava_nt.converters.quantize import quantize
from lava_nt.converters.quantize.scale import GRADED_PEAK, encode_graded_input
from lava_nt.network import run_reference
from lava_nt.nn.fixed_emulator import run_fixed
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_spec


def _match(spec, x, S, peak):
    fs, rep = quantize(spec, input_scale=S, input_peak=peak)
    ref = run_reference(spec, x, record=True).numpy_layer_spikes()
    fix = run_fixed(fs, encode_graded_input(x, S), record=True).numpy_layer_spikes()
    return [float(np.mean(a == b)) for a, b in zip(ref, fix, strict=True)], rep


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_graded_input_at_its_peak_does_not_wrap_the_current(seed):
    spec = random_spec(seed, (10, 16, 12), graded=True)
    S = 128.0
    x = np.full((30, 4, 10), GRADED_PEAK / S)  # every input at the peak, both signs
    x[:, 1] *= -1
    x[:, 2, ::2] *= -1
    new, rep = _match(spec, x, S, None)
    old, _ = _match(spec, x, S, 1.0)  # the spike-input bound (inputs of at most 1)
    assert min(new) >= 0.95, new
    assert new[0] > old[0] + 0.1, (new, old)
    assert rep.layers[0].scale_limit == "current u (24 bits, graded input up to 255)"


def test_input_peak_checks():
    graded = random_spec(0, (10, 16, 12), graded=True)
    _, rep_small = quantize(graded, input_scale=128.0, input_peak=128.0)
    _, rep_default = quantize(graded, input_scale=128.0)
    assert rep_small.layers[0].scale > rep_default.layers[0].scale  # a lower peak: finer scale
    assert rep_small.layers[1].scale == rep_default.layers[1].scale  # only the first layer
    for bad in (0, -1.0, float("nan"), True, "255"):
        with pytest.raises(ParameterError, match="input_peak"):
            quantize(graded, input_peak=bad)
    with pytest.raises(ParameterError, match="graded"):
        quantize(random_spec(0, (10, 16, 12)), input_peak=10.0)
