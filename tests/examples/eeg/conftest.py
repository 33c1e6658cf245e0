"""Shared small synthetic DEAP data for the EEG example tests (generated once per session)."""

import pytest

from lava_nt.examples.eeg.synthetic import SyntheticConfig, generate_deap

SMALL = SyntheticConfig(n_participants=3, n_trials=8, n_samples=2048, seed=7)


@pytest.fixture(scope="session")
def small_deap(tmp_path_factory):
    """Directory with s01.dat..s03.dat: 8 trials x 40 channels x 2048 samples. Do not modify."""
    d = tmp_path_factory.mktemp("deap_small")
    generate_deap(d, SMALL)
    return d
