"""The result of a Lava run of a network: :class:`LavaRunResult`."""

from __future__ import annotations

from dataclasses import dataclass, field

from lava_nt.result import RunResult


@dataclass(frozen=True)
class LavaRunResult(RunResult):
    """Result of :func:`run_network` (and :func:`lava_nt.converters.netx.run_netx`): a
    :class:`~lava_nt.result.RunResult` in the torch time frame, plus the Lava run's schedule and
    timing.

    Attributes (also readable dict-style, ``result["spikes"]``):
        output: spikes of the last layer, ``[T, B, n_out]`` (float 0/1), or the readout's voltage
            trace (float64; int64 in fixed point) for a network with a readout; alias ``spikes``.
        layers: with ``record=True`` one dict per layer, as
            :func:`lava_nt.network.reference_run` returns them: ``spikes`` ``[T, B, n]``,
            ``bias_current`` ``[T, B, n]`` (the current delivered to ``c_in``; None without a
            spiking bias) and ``bias_spikes`` ``[T, B, m]`` (None without a spiking bias).
            Empty without ``record``.
        has_readout: True when ``output`` is a readout trace.
        states: always None (Lava's final states are not read back).
        precision: "float" or "fixed".
        steps: Lava time steps run (``B * window + depth``).
        window: steps per sample window ``L = T`` (samples back to back, see :func:`schedule`).
        timing: seconds spent building the processes (``build``), compiling and starting the
            runtime (``start``), running (``run``), reading the Extractors (``read``); and in
            ``total`` (including the isolated child process and ``stop()``).
        steps_per_second: ``steps / timing["run"]`` (NaN before a run).
    """

    precision: str = "float"
    steps: int = 0
    window: int = 0
    timing: dict = field(default_factory=dict)

    def keys(self) -> tuple[str, ...]:
        """The names ``result[name]`` accepts."""
        return (*super().keys(), "precision", "steps", "window", "timing")

    @property
    def steps_per_second(self) -> float:
        run = self.timing.get("run", 0.0)
        return self.steps / run if run > 0 else float("nan")
