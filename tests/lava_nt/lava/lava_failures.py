"""A Lava process whose model fails on purpose (tests of lava_nt.lava.run; not a test module).

``FailingProcess`` receives spikes from a ``RingBuffer``; at time step ``at`` its model
(deliberately *without* lava-nt's ``report_model_errors`` decorator) first writes the names of
the ``/dev/shm`` segments mapped by the job process (which holds every channel of the network)
to ``names_file``, then, by ``mode``:

* ``"raise"``: raises ``ValueError``;
* ``"exit"``: ``os._exit(3)``;
* ``"kill"``: SIGKILLs its own process;
* ``"slow"``: keeps running, 0.1 s per step (for timeouts and interrupts);
* ``"none"``: nothing.

The models are given to Lava through ``exception_proc_model_map``, so Lava does not search this
directory for them.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from lava_nt.lava.compat import allow_lava_import

allow_lava_import()

from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.model.py.model import PyLoihiProcessModel  # noqa: E402
from lava.magma.core.model.py.ports import PyInPort  # noqa: E402
from lava.magma.core.model.py.type import LavaPyType  # noqa: E402
from lava.magma.core.process.ports.ports import InPort  # noqa: E402
from lava.magma.core.process.process import AbstractProcess  # noqa: E402
from lava.magma.core.process.variable import Var  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402


class FailingProcess(AbstractProcess):
    def __init__(self, mode: str, at: int = 3, names_file: str = ""):
        super().__init__(shape=(2,), mode=mode, at=at, names_file=names_file)
        self.a_in = InPort(shape=(2,))
        self.count = Var(shape=(1,), init=0)


def shm_mapped_by(pid: int) -> list[str]:
    """Names of the /dev/shm files that process ``pid`` has mapped."""
    names = set()
    with open(f"/proc/{pid}/maps") as fh:
        for line in fh:
            path = line.split(None, 5)[-1].strip()
            if path.startswith("/dev/shm/"):
                names.add(path[len("/dev/shm/") :].removesuffix(" (deleted)"))
    return sorted(names)


@implements(proc=FailingProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyFailingModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    count: np.ndarray = LavaPyType(np.ndarray, float)

    def run_spk(self):
        self.a_in.recv()
        self.count += 1
        params = self.proc_params
        if self.time_step == params["at"] and params["names_file"]:
            names = shm_mapped_by(os.getppid())
            tmp = params["names_file"] + ".tmp"
            with open(tmp, "w") as fh:
                fh.write("\n".join(names))
            os.replace(tmp, params["names_file"])
        mode = params["mode"]
        if mode == "slow":
            time.sleep(0.1)
        if self.time_step < params["at"]:
            return
        if mode == "raise":
            raise ValueError(f"failing model raised at step {self.time_step}")
        if mode == "exit":
            os._exit(3)
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)


def network_job(mode: str, pid_file: str = "", names_file: str = "", steps: int = 50):
    """RingBuffer -> FailingProcess run for ``steps`` steps; returns the model's step count."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import PySendModelFloat, RingBuffer

    from lava_nt.lava.run import stopping

    if pid_file:
        with open(pid_file, "w") as fh:
            fh.write(str(os.getpid()))
    src = RingBuffer(data=np.ones((2, 10)))
    proc = FailingProcess(mode, names_file=names_file)
    src.s_out.connect(proc.a_in)
    cfg = Loihi2SimCfg(
        select_tag="floating_pt",
        exception_proc_model_map={src: PySendModelFloat, proc: PyFailingModel},
    )
    with stopping(proc):
        proc.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
        return float(proc.count.get()[0])
