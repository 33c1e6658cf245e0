"""``python -m lava_nt.qat``: the EEG comparison moved to the EEG example."""

import sys

if __name__ == "__main__":
    sys.exit(
        "python -m lava_nt.qat: the float / PTQ / QAT comparison on the EEG example moved to "
        "'python -m lava_nt.examples.eeg.qat_compare' (same arguments)"
    )
