"""``lava-nt eeg generate`` says how much it writes and needs --yes above 1 GB."""

import re

import pytest

from lava_nt.cli import main
from lava_nt.commands.eeg import generate as eeg_generate
from lava_nt.examples.eeg.synthetic import SyntheticConfig, data_bytes, generate_deap

SMALL = ["--participants", "2", "--trials", "4", "--samples", "1024"]


def test_data_bytes_is_what_the_generator_writes(tmp_path):
    cfg = SyntheticConfig(n_participants=2, n_trials=4, n_samples=1024)
    paths = generate_deap(tmp_path, cfg)
    sizes = [p.stat().st_size for p in paths]
    per_file = data_bytes(cfg, 1)
    assert data_bytes(cfg) == 2 * per_file
    assert all(0 <= s - per_file < 1024 for s in sizes), (sizes, per_file)  # pickle framing
    assert round(data_bytes(SyntheticConfig()) / 1e9, 1) == 3.3  # the defaults, as documented


def test_default_generate_refuses_without_yes(tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["eeg", "generate", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"would write 3.3 GB (32 participants x 40 trials x 40 channels x 8064 samples, " \
        f"float64) to {out}; pass --yes" in err  # fmt: skip
    assert not out.exists()  # nothing written, not even the directory


def test_threshold_and_yes(tmp_path, capsys, monkeypatch):
    size = data_bytes(SyntheticConfig(n_participants=2, n_trials=4, n_samples=1024))
    monkeypatch.setattr(eeg_generate, "GENERATE_CONFIRM_BYTES", size - 1)  # just below this request
    out = tmp_path / "data"
    assert main(["eeg", "generate", "--out", str(out), *SMALL]) == 1
    assert "pass --yes" in capsys.readouterr().err
    assert not out.exists()
    assert main(["eeg", "generate", "--out", str(out), *SMALL, "--yes"]) == 0
    assert f"writing {size / 1e9:.1f} GB (2 participants x 4 trials" in capsys.readouterr().out
    assert sorted(p.name for p in out.glob("s*.dat")) == ["s01.dat", "s02.dat"]
    monkeypatch.setattr(eeg_generate, "GENERATE_CONFIRM_BYTES", size)  # at the threshold: no --yes
    assert main(["eeg", "generate", "--out", str(tmp_path / "again"), *SMALL]) == 0


@pytest.mark.parametrize("args", [["eeg", "generate", "--help"], ["eeg", "--help"]])
def test_help_says_the_size(args, capsys):
    with pytest.raises(SystemExit):
        main(args)
    assert re.search(r"3\.3\s+GB", capsys.readouterr().out)  # argparse may wrap the line
