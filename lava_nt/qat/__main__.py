"""``python -m lava_nt.qat``: see :func:`lava_nt.qat.compare.compare_qat`."""

from lava_nt.qat.compare import _main

if __name__ == "__main__":
    _main()
