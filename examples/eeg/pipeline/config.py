"""Settings of an EEG LOSO run: architectures, methods (one results row each) and
:class:`PipelineConfig` (the thesis' chapter 4 defaults under the honest protocol)."""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from lava_nt.builder import build_network
from lava_nt.device import resolve_device
from lava_nt.examples.eeg.protocols import PROTOCOLS
from lava_nt.io import to_jsonable

N_FEATURES = 160
#: Where the binarising thresholds come from (lava_nt.examples.eeg.protocols): "person" = the
#: tuning person's training part and each pretraining person's own data (the thesis);
#: "population" = the pretraining participants pooled, applied to everyone of the fold.
THRESHOLDS = ("person", "population")
#: where a QAT unit starts: the pretrained network with the method applied (tuned from scratch in
#: parallel with the float unit) or the float unit's tuned model (QAT fine-tuning)
QAT_INITS = ("pretrained", "float")
#: the ``ondevice`` settings' choices (lava_nt.ondevice.select: ENGINES, METRICS, LEARN_ON)
ONDEVICE_CHOICES = {
    "ondevice_engine": ("twin", "lava"),
    "ondevice_metric": ("accuracy", "balanced"),
    "ondevice_learn_on": ("all", "errors"),
    "ondevice_error_gate": ("always", "misclassified"),
    "ondevice_class_weights": ("none", "balanced"),
}
THRESHOLD_TEXT = {
    "person": "thresholds: each person's own mean power (tuning person: training part)",
    "population": "thresholds: mean power of the pretraining participants, for everyone",
}


class PipelineError(ValueError):
    """A user-facing error of the EEG pipeline (bad settings, data or run directory)."""


# ---------------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class Arch:
    """A network architecture pretrained per fold: ``160 -> hidden -> 2 * population``."""

    name: str
    hidden: tuple[int, ...]
    population: int
    description: str

    @property
    def sizes(self) -> list[int]:
        return [N_FEATURES, *self.hidden, 2 * self.population]


ARCHS = {
    "main": Arch("main", (400, 800), 50, "160-400-800-100 (thesis network, 50 neurons per class)"),
    "ablation": Arch(
        "ablation", (1000, 277), 49, "160-1000-277-98 (volumetric ablation, 49 neurons per class)"
    ),
}


@dataclass(frozen=True)
class Method:
    """One row of the results table: which pretrained network and which tuning."""

    name: str
    arch: str
    tuning: tuple[str, ...] | None  # apply_tuning methods; None: no tuning (pretrained as is)
    kwargs: tuple[tuple[str, object], ...]  # extra apply_tuning arguments
    label: str
    tuned: str  # what is trained, for the parameter table
    family: str = "snn"  # "snn": a tuned spiking network; "logreg": per-person logistic regression
    #: how the tuned parameters learn: "bptt" (the trainer) or "ondevice" (the local rule's
    #: twin, lava_nt.examples.eeg.pipeline.ondevice; float and fixed point)
    learner: str = "bptt"

    def tuning_kwargs(self) -> dict:
        return dict(self.kwargs)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("none", "main", None, (), "no tuning", "nothing (pretrained on the others)"),
        Method("nt2", "main", ("nt2",), (), "traditional bias (NT2)", "biases b of every layer"),
        Method("nt1", "main", ("nt1",), (), "multiplicative gain (NT1)", "gains g of every layer"),
        Method(
            "spiking_bias",
            "main",
            ("spiking_bias",),
            (),
            "spiking bias",
            "bias weights w_b of one spiking bias neuron per neuron (W_in fixed)",
        ),
        Method(
            "spiking_bias_sparse",
            "main",
            ("spiking_bias_sparse",),
            (("sparsity", 0.9),),
            "spiking bias, sparse W_in tuned",
            "w_b + 10% of each spiking-bias input matrix (90% sparse)",
        ),
        Method(
            "volumetric",
            "main",
            ("volumetric",),
            (("layers", (0,)), ("group_size", 10), ("input_sparsity", 0.85)),
            "volumetric",
            "40 bias neurons on layer 1 (groups of 10): w_b + 15% of W_in (160x40)",
        ),
        Method(
            "ablation",
            "ablation",
            ("nt2",),
            (("layers", (0,)),),
            "ablation (1000-277-98, NT2 layer 1)",
            "biases of layer 1 of the 160-1000-277-98 network",
        ),
        Method("tft", "main", ("tft",), (), "traditional fine-tuning", "every weight and bias"),
        Method(
            "ondevice",
            "main",
            ("nt2",),
            (),
            "on-device bias rule (local, no BPTT)",
            "biases b of every layer (400 + 800 + 100, as nt2), by the local rule",
            learner="ondevice",
        ),
        # baselines (lava_nt.examples.eeg.baselines)
        Method(
            "readout",
            "main",
            ("tft",),
            (("layers", (2,)),),
            "readout-only retraining",
            "weights and biases of the output layer (800x100 + 100)",
        ),
        Method(
            "lora",
            "main",
            ("lora",),
            (("rank", 1), ("layers", (1,))),
            "LoRA adapter (rank 1 on layer 2)",
            "low-rank update B A (800x1, 1x400) of the frozen layer-2 weights",
        ),
        Method(
            "logreg",
            "main",
            None,
            (),
            "per-person logistic regression",
            "160 weights + intercept on the person's training part (not a spiking network)",
            family="logreg",
        ),
    )
}
BASELINE_METHODS = ("readout", "lora", "logreg")
DEFAULT_METHODS = (
    "none",
    "nt2",
    "spiking_bias",
    "spiking_bias_sparse",
    "volumetric",
    "ablation",
    "tft",
)
QUICK_METHODS = ("none", "nt2", "spiking_bias", "volumetric")


def check_methods(methods: Iterable[str]) -> tuple[str, ...]:
    """Validate method names (clear error with a suggestion); keeps order, drops duplicates."""
    out: list[str] = []
    for m in methods:
        if m not in METHODS:
            close = difflib.get_close_matches(str(m), list(METHODS), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise PipelineError(f"unknown method '{m}'.{hint} Methods: {', '.join(METHODS)}")
        if m not in out:
            out.append(m)
    if not out:
        raise PipelineError("no method given")
    return tuple(out)


def build_arch(arch: str, *, beta: float, seed: int):
    """A fresh (untrained) network of architecture ``arch`` (see :data:`ARCHS`)."""
    a = ARCHS[arch]
    return build_network(
        N_FEATURES, list(a.hidden), n_classes=2, population=a.population, bias=True,
        beta=beta, seed=seed,
    )  # fmt: skip


# ---------------------------------------------------------------------------------- config


def _seq(name: str, v) -> tuple:
    if isinstance(v, str | bytes) or not isinstance(v, Iterable):
        raise PipelineError(f"{name} must be a sequence of integers, got {v!r}")
    return tuple(v)


def _int(name: str, v, lo: int, what: str | None = None) -> int:
    """``v`` as an int >= ``lo``; bools, strings and floats are refused, naming ``name``."""
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer) or v < lo:
        what = what or ("a positive integer" if lo == 1 else f"an integer >= {lo}")
        raise PipelineError(f"{name} must be {what}, got {v!r}")
    return int(v)


def _real(name: str, v, lo, hi, lo_open: bool = False, hi_open: bool = False) -> float:
    """``v`` as a finite float inside its interval; bools and strings are refused."""
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.integer | np.floating):
        raise PipelineError(f"{name} must be a number, got {v!r}")
    f = float(v)
    ok = math.isfinite(f)
    if ok and lo is not None:
        ok = f > lo if lo_open else f >= lo
    if ok and hi is not None:
        ok = f < hi if hi_open else f <= hi
    if not ok:
        interval = (
            ("(" if lo_open else "[") + ("-inf" if lo is None else f"{lo:g}") + ", "
            + ("inf" if hi is None else f"{hi:g}") + (")" if hi_open or hi is None else "]")
        )  # fmt: skip
        raise PipelineError(f"{name} must be in {interval}, got {v!r}")
    return f


@dataclass(frozen=True)
class PipelineConfig:
    """Settings of a LOSO run (defaults: the thesis' chapter 4 under the honest protocol).

    ``participants``: the left-out participants (folds); None = every participant of the data.
    ``patience``: epochs without improvement of the selection metric before tuning stops;
    ``"auto"`` = 100 for ``honest``, None (never) for ``thesis`` (the thesis ran all epochs).
    ``fold_group_size``: 1 = one pretraining per left-out participant (thesis); ``k > 1`` shares
    one pretraining (on everybody outside the group) among ``k`` consecutive folds (speed option).
    ``fused``: train through :class:`lava_nt.nn.fused.FusedNTNetwork` (same function and
    gradients, faster on CPU). ``threads``: torch intra-op threads during the run (1 is several
    times faster than 2 for these small batches on a shared, loaded 2-core machine; part of the
    run's identity because reductions may round differently). ``lava``/``lava_fixed``: deploy
    tuned models on Lava (float / quantised); ``lava_samples``: deploy at most this many test
    samples per model (None: all). ``device``: where torch trains (``cpu``, ``cuda``, ``auto``;
    :mod:`lava_nt.device`); not part of the run's identity, so a run may continue on another
    device (each results row records the device that produced it). ``thresholds``: where the
    binarising thresholds come from (:data:`THRESHOLDS`; default ``"person"``, the thesis).
    """

    protocol: str = "honest"
    methods: tuple[str, ...] = DEFAULT_METHODS
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    participants: tuple[int, ...] | None = None
    pretrain_epochs: int = 15
    tune_epochs: int = 500
    patience: int | None | str = "auto"
    lr: float = 1e-4
    tune_lr: float = 1e-4
    batch_size: int = 32
    T: int = 25
    spike_l1: float = 1e-3
    beta: float = 0.9
    pretrain_seed: int = 0
    feature_seed: int = 0
    test_fraction: float = 0.2
    val_fraction: float = 0.2
    balance_tol: float = 0.10
    fold_group_size: int = 1
    fused: bool = True
    threads: int = 1
    lava: bool = True
    lava_fixed: bool = True
    lava_samples: int | None = None
    #: None: deploy every test sample on Lava; N >= 0: the reference mode for large studies
    #: (deployment accuracies from the engines proven equal to Lava, Lava itself on N samples
    #: per model as a check; examples.eeg.deploy.deploy_model)
    lava_check: int | None = None
    #: tune every spiking unit a second time through the fixed-point network (QAT,
    #: lava_nt.examples.eeg.pipeline.qat) and deploy both
    qat: bool = False
    #: QAT_INITS: "float" fine-tunes the float-tuned model through the fixed-point network
    qat_init: str = "pretrained"
    #: maximum QAT epochs (None: tune_epochs)
    qat_epochs: int | None = None
    lava_timeout: float | None = None
    progress: bool = False
    device: str = "cpu"
    thresholds: str = "person"
    #: sparse spiking gradient descent: the band B_th (surrogate gradients only where
    #: |v - vth| < B_th vth; lava_nt.nn.sparse_grad) in pretraining and tuning; None: dense
    sparse_grad: float | None = None
    #: what learns an ``ondevice`` unit's biases: "twin" (numpy) or "lava" (the grid runs on the
    #: twin, the chosen point once more as one Lava learning run, whose biases the unit deploys;
    #: proven equal, so not part of the run's identity; each row records it)
    ondevice_engine: str = "twin"
    #: ``ondevice`` units: the grid point's selection score (lava_nt.ondevice.select.METRICS) and
    #: which tuning samples learn (select.LEARN_ON: "errors" = host-set per-pass flags)
    ondevice_metric: str = "accuracy"
    ondevice_learn_on: str = "all"
    #: ``ondevice`` units: the rule's error gate and class weights (lava_nt.spec.error_gate)
    ondevice_error_gate: str = "always"
    ondevice_class_weights: str = "none"
    #: keep the trainer checkpoints (``checkpoint.pt``, ``best.pt``, also under ``qat/``) of
    #: finished pretrainings and units; False: removed once the model file is written and the
    #: results row recorded (an interrupted training still resumes from its checkpoint)
    keep_checkpoints: bool = False

    # settings that may differ between invocations on the same run directory (more folds, more
    # methods or seeds, Lava on or off); all others must match run.json
    EXTENSIBLE = ("methods", "seeds", "participants", "lava", "lava_fixed", "lava_timeout",
                  "progress", "device", "lava_check", "ondevice_engine")  # fmt: skip
    # settings added after run directories existed: left out of run.json at their default, so a
    # run directory that does not record them resumes unchanged
    OPTIONAL = {"thresholds": "person", "qat": False, "lava_check": None,
                "qat_init": "pretrained", "qat_epochs": None, "sparse_grad": None,
                "ondevice_metric": "accuracy", "ondevice_learn_on": "all",
                "ondevice_error_gate": "always", "ondevice_class_weights": "none",
                "keep_checkpoints": False}  # fmt: skip

    def __post_init__(self):
        if not isinstance(self.protocol, str) or self.protocol not in PROTOCOLS:
            raise PipelineError(
                f"unknown protocol {self.protocol!r}; protocols: {', '.join(PROTOCOLS)}"
            )
        object.__setattr__(self, "methods", check_methods(self.methods))
        self._check_ids()
        self._check_counts()
        self._check_reals()
        try:
            resolve_device(self.device, "device")
        except ValueError as e:
            raise PipelineError(str(e)) from None
        if self.qat_init not in QAT_INITS:
            raise PipelineError(
                f"qat_init must be one of {', '.join(QAT_INITS)}, got {self.qat_init!r}"
            )
        if self.qat_epochs is not None:
            _int("qat_epochs", self.qat_epochs, 1, "a positive integer or None")
        if not self.qat and (self.qat_init != "pretrained" or self.qat_epochs is not None):
            raise PipelineError("qat_init and qat_epochs apply to QAT units (qat=True)")
        if self.sparse_grad is not None:
            _real("sparse_grad", self.sparse_grad, 0.0, None, lo_open=True)
            object.__setattr__(self, "sparse_grad", float(self.sparse_grad))
            if self.qat:
                raise PipelineError(
                    "sparse_grad does not combine with qat: the QAT units have no sparse-band "
                    "backward (run the QAT comparison without --sparse-grad)"
                )
        for name, allowed in ONDEVICE_CHOICES.items():
            if getattr(self, name) not in allowed:
                raise PipelineError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        if self.thresholds not in THRESHOLDS:
            raise PipelineError(
                f"thresholds must be one of {', '.join(THRESHOLDS)}, got {self.thresholds!r}"
            )
        for name in ("fused", "lava", "lava_fixed", "progress", "qat", "keep_checkpoints"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise PipelineError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def _check_ids(self) -> None:
        """``seeds`` and ``participants``: distinct integers, stored as tuples."""
        seeds = tuple(_int("seeds", s, 0) for s in _seq("seeds", self.seeds))
        if not seeds:
            raise PipelineError("no seed given")
        if len(set(seeds)) != len(seeds):
            raise PipelineError(f"seeds must be distinct, got {list(seeds)}")
        object.__setattr__(self, "seeds", seeds)
        if self.participants is not None:
            ps = tuple(_int("participants", p, 1) for p in _seq("participants", self.participants))
            if not ps or len(set(ps)) != len(ps):
                raise PipelineError(
                    f"participants must be distinct numbers >= 1, got {list(self.participants)}"
                )
            object.__setattr__(self, "participants", ps)

    def _check_counts(self) -> None:
        """The integer settings (``patience="auto"`` resolved by the protocol)."""
        for name in ("pretrain_epochs", "tune_epochs", "batch_size", "T", "fold_group_size",
                     "threads"):  # fmt: skip
            _int(name, getattr(self, name), 1)
        for name in ("pretrain_seed", "feature_seed"):
            _int(name, getattr(self, name), 0)
        if self.patience == "auto":
            object.__setattr__(self, "patience", 100 if self.protocol == "honest" else None)
        if self.patience is not None:
            _int("patience", self.patience, 1, "a positive integer or None")

    def _check_reals(self) -> None:
        """Learning rates, fractions, tolerances and the Lava settings."""
        for name in ("lr", "tune_lr"):
            _real(name, getattr(self, name), 0.0, None, lo_open=True)
        _real("beta", self.beta, 0.0, 1.0, lo_open=True)
        _real("spike_l1", self.spike_l1, 0.0, None)
        _real("test_fraction", self.test_fraction, 0.0, 1.0, lo_open=True, hi_open=True)
        _real("val_fraction", self.val_fraction, 0.0, 1.0, hi_open=True)
        if self.test_fraction + self.val_fraction >= 1.0:
            raise PipelineError(
                f"test_fraction + val_fraction must leave trials to tune on, got "
                f"{self.test_fraction} + {self.val_fraction} >= 1"
            )
        _real("balance_tol", self.balance_tol, 0.0, 1.0, hi_open=True)
        if self.lava_samples is not None:
            _int("lava_samples", self.lava_samples, 1, "a positive integer or None")
        if self.lava_check is not None:
            _int("lava_check", self.lava_check, 0, "an integer >= 0 or None")
        if self.lava_timeout is not None:
            _real("lava_timeout", self.lava_timeout, 0.0, None, lo_open=True)

    @property
    def select(self) -> str:
        """The trainer's epoch selection: validation (honest) or best test epoch (thesis)."""
        if self.protocol == "thesis":
            return "test"
        return "val" if self.val_fraction > 0 else "last"

    def identity(self) -> dict:
        """The settings every unit of a run directory must share (stored in run.json)."""
        d = dataclasses.asdict(self)
        return {
            k: to_jsonable(v) for k, v in d.items()
            if k not in self.EXTENSIBLE and not (k in self.OPTIONAL and v == self.OPTIONAL[k])
        }  # fmt: skip

    def describe(self) -> str:
        pat = "no early stopping" if self.patience is None else f"patience {self.patience}"
        sel = {"val": "epoch chosen on validation", "test": "best test epoch (thesis)",
               "last": "last epoch"}[self.select]  # fmt: skip
        return (
            f"pretrain {self.pretrain_epochs} epochs (lr {self.lr:g}), tune up to "
            f"{self.tune_epochs} epochs (lr {self.tune_lr:g}, {pat}, {sel}), Adam, batch "
            f"{self.batch_size}, T {self.T}, spike L1 {self.spike_l1:g}, beta {self.beta:g}, "
            f"split test {self.test_fraction:g} / val {self.val_fraction:g} (balance "
            f"{self.balance_tol:g}), pretraining seed {self.pretrain_seed}, feature seed "
            f"{self.feature_seed}, "
            + (
                "one pretraining per fold"
                if self.fold_group_size == 1
                else f"one pretraining per group of {self.fold_group_size} folds"
            )  # fmt: skip
            + (
                ", every unit also tuned with QAT (fixed point in the loop"
                + (", fine-tuning the float-tuned model" if self.qat_init == "float" else "")
                + (f", up to {self.qat_epochs} epochs" if self.qat_epochs else "")
                + ")"
                if self.qat
                else ""
            )  # fmt: skip
            + (", " + THRESHOLD_TEXT[self.thresholds] if self.thresholds != "person" else "")
            + (
                f", sparse surrogate gradients (|v - vth| < {self.sparse_grad:g} vth)"
                if self.sparse_grad is not None
                else ""
            )  # fmt: skip
        )


PROTOCOL_TEXT = {
    "honest": "honest: trials split into train/validation/test before augmenting, epoch chosen "
    "on validation, balanced test part",
    "thesis": "thesis: instances split after augmenting (copies of a trial on both sides), best "
    "test epoch reported, balanced test part",
}
