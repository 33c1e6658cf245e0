"""One unit of work: the pretraining of a fold (cached), the tuning of one (participant, method,
seed) and its Lava deployment; plus reloading a finished unit's model and data."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from lava_nt.converters.model_file import load_network, save_model
from lava_nt.decode import predictions
from lava_nt.device import resolve_device
from lava_nt.examples.eeg.baselines import apply_method, logistic_regression, merge_adapters
from lava_nt.examples.eeg.deap import participant_path
from lava_nt.examples.eeg.deploy import LavaChecks, check_indices, deploy_model
from lava_nt.examples.eeg.features import ParticipantFeatures, file_sha256
from lava_nt.examples.eeg.pipeline.config import (
    ARCHS,
    METHODS,
    PipelineConfig,
    PipelineError,
    build_arch,
)
from lava_nt.examples.eeg.pipeline.data import DataInfo, load_features
from lava_nt.examples.eeg.pipeline.journal import (
    SCHEMA,
    config_from_info,
    load_run_info,
)
from lava_nt.examples.eeg.pipeline.ondevice import learned_fixed, ondevice_fields, tune_unit
from lava_nt.examples.eeg.pipeline.qat import qat_deploy_fields, qat_unit_fields
from lava_nt.examples.eeg.pipeline.steps import (
    MODEL_FILE,
    _tensors,
    _train_config,
    model_path,
    pretrain_key,
    unit_dir,
)
from lava_nt.examples.eeg.protocols import (
    TuningData,
    make_split,
    population_thresholds,
    pretrain_data,
    tuning_data,
)
from lava_nt.io import load_torch, to_jsonable
from lava_nt.nn.fused import FusedNTNetwork
from lava_nt.nn.sparse_grad import sparse_gradients
from lava_nt.training import TrainConfig, evaluate, train

__all__ = [  # the layout names are re-exported (their home is .steps)
    "MODEL_FILE",
    "fold_groups",
    "load_unit_model",
    "model_path",
    "pretrain_key",
    "unit_data",
    "unit_dir",
]


@contextlib.contextmanager
def _torch_threads(n: int):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _fixed_threads(fn):
    """Run a unit method with torch's thread count fixed to the run's ``threads`` setting (the
    caller's thread count never reaches the numbers; every row records the setting)."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        with _torch_threads(self.config.threads):
            return fn(self, *args, **kwargs)

    return wrapper


def fold_groups(pool: Sequence[int], size: int) -> dict[int, tuple[int, ...]]:
    """Participant -> its group of ``size`` consecutive participants of the pool (sorted), which
    share one pretraining on everybody outside the group (``size = 1``: LOSO proper)."""
    pool = sorted(pool)
    out = {}
    for i in range(0, len(pool), size):
        g = tuple(pool[i : i + size])
        for p in g:
            out[p] = g
    return out


def _train(net, train_data, cfg, run_dir: Path, fused: bool, val_data=None, test_data=None):
    """Train ``net`` in place with the trainer (checkpoint/resume in ``run_dir``: a run killed
    after its last or early-stopping epoch is finalised on resume, not trained further); returns
    ``(history, best_epoch, stopped_early)``. ``net`` ends holding the selected epoch. The
    callers wrap it in :func:`~lava_nt.nn.sparse_grad.sparse_gradients` with the run's band."""
    model = net
    if fused:
        model = FusedNTNetwork.from_network(net)
    res = train(
        model, train_data, cfg, val_data=val_data, test_data=test_data, run_dir=run_dir,
        resume=True,
    )  # fmt: skip
    return res.history, res.best_epoch, res.stopped_early


def sparse_fields(config: PipelineConfig) -> dict:
    """The results-row field of the run's sparse-gradient band (absent for the dense default)."""
    return {} if config.sparse_grad is None else {"sparse_grad": config.sparse_grad}


# ---------------------------------------------------------------------------------- pipeline


def _save_model(d: Path, net, meta: dict, *, seed: int) -> Path:
    """Write the directory's model file (HDF5, atomically) with its provenance."""
    meta = {**meta, "seed": int(seed), "data_protocol": meta["protocol"], "n_classes": 2,
            "population": net.sizes[-1] // 2}  # fmt: skip
    return save_model(model_path(d), net, meta=to_jsonable(meta), overwrite=True)


def _read_model(d: Path, what: str):
    """``(state_dict, meta)`` of the directory's model file, or None if it has none. Run
    directories of earlier versions hold ``model.pt`` instead (read with ``weights_only``)."""
    if model_path(d).exists():
        net, info = load_network(model_path(d))
        return net.state_dict(), {**info.meta, "seed": info.seed, "protocol": info.data_protocol}
    legacy = Path(d) / "model.pt"
    if legacy.exists():
        saved = load_torch(legacy, what=what)
        return saved["state"], {k: v for k, v in saved.items() if k != "state"}
    return None


class _Pipeline:
    def __init__(self, run_dir: Path, config: PipelineConfig, data: DataInfo, log, bar=None):
        self.run_dir = run_dir
        self.config = config
        self.data = data
        self.log = log
        self.bar = bar
        self.features: dict[int, ParticipantFeatures] = {}
        self._pretrained: dict[tuple[str, str], dict] = {}
        self._units_done_now = 0

    # ---- data for one unit ---------------------------------------------------------------
    def unit_data(self, participant: int, seed: int) -> TuningData:
        c = self.config
        f = self.features[participant]
        kw = dict(
            seed=seed,
            participant=participant,
            test_fraction=c.test_fraction,
            balance_tol=c.balance_tol,
            n_augment=f.powers.shape[1],
        )
        if c.protocol == "honest":
            kw["val_fraction"] = c.val_fraction
        split = make_split(c.protocol, f.valence_high, **kw)
        return tuning_data(f, split, self.thresholds_for(participant))

    def thresholds_for(self, participant: int):
        """The binarising thresholds of the fold (None: each person's own, see protocols)."""
        if self.config.thresholds != "population":
            return None
        group = fold_groups(self.data.pool, self.config.fold_group_size)[participant]
        return population_thresholds([self.features[q] for q in self.data.pool if q not in group])

    # ---- pretraining ---------------------------------------------------------------------
    def _pretrain_facts(self, group: tuple[int, ...], arch: str):
        key = pretrain_key(group)
        others = [q for q in self.data.pool if q not in group]
        if not others:
            raise PipelineError(
                f"no participant left to pretrain on without {list(group)} (pool "
                f"{self.data.pool}); LOSO needs at least 2 participants"
            )
        return key, others, self.run_dir / "pretrained" / key / arch

    @_fixed_threads
    def pretrain(self, group: tuple[int, ...], arch: str) -> dict:
        """Pretrain ``arch`` for the fold group unless its model file exists; returns the
        pretraining's results row (from the model file's provenance when it was saved before)."""
        key, others, d = self._pretrain_facts(group, arch)
        saved = _read_model(d, "pretrained model")
        if saved is not None:
            state, meta = saved
            if meta.get("pretrain_participants") != others or meta.get("arch") != arch:
                raise PipelineError(f"{d} belongs to another pretraining; remove it")
            self._pretrained[(key, arch)] = state
            if "row" in meta:
                return meta["row"]
        c = self.config
        self._write(
            f"pretraining {ARCHS[arch].description} on {len(others)} participants "
            f"(all but {', '.join(map(str, group))}), {c.pretrain_epochs} epochs"
        )
        t0 = time.perf_counter()
        th = self.thresholds_for(group[0])
        x, y = pretrain_data([self.features[q] for q in others], th)
        net = build_arch(arch, beta=c.beta, seed=c.pretrain_seed)
        cfg = _train_config(c, tune=False, seed=c.pretrain_seed)
        with sparse_gradients(net, c.sparse_grad):  # None: the dense surrogate gradient
            hist, _, _ = _train(net, _tensors(x, y), cfg, d, c.fused)
        secs = time.perf_counter() - t0
        last = hist[-1] if hist else {}
        row = {
            "schema": SCHEMA,
            "kind": "pretrain",
            "key": key,
            "arch": arch,
            "left_out": list(group),
            "pretrain_participants": others,
            "n_train": int(len(y)),
            "epochs": len(hist),
            "train_acc": last.get("train_acc"),
            "train_loss": last.get("train_loss"),
            "device": str(resolve_device(c.device)),
            "pretrain_seed": c.pretrain_seed,
            **sparse_fields(c),
            "threads": c.threads,
            "seconds": round(secs, 2),
        }
        meta = {
            "role": "pretrained", "arch": arch, "key": key, "left_out": list(group),
            "pretrain_participants": others, "history": hist, "row": row,
            "data_sha256": self._data_hashes(others), **self._provenance(),
        }  # fmt: skip
        _save_model(d, net, meta, seed=c.pretrain_seed)
        acc = last.get("train_acc")
        self._write(
            f"  pretrained in {secs:.0f} s, final training accuracy "
            + (f"{acc:.3f}" if acc is not None else "n/a")
        )
        self._pretrained[(key, arch)] = {k: v.detach().clone() for k, v in net.state_dict().items()}
        return row

    def pretrained(self, group: tuple[int, ...], arch: str) -> dict:
        """The pretrained state dict of ``arch`` for the fold group (from its model file)."""
        key, _, d = self._pretrain_facts(group, arch)
        if (key, arch) not in self._pretrained:
            saved = _read_model(d, "pretrained model")
            if saved is None:
                raise PipelineError(f"no pretrained model in {d}; run the pretraining first")
            self._pretrained[(key, arch)] = saved[0]
        return self._pretrained[(key, arch)]

    def _provenance(self) -> dict:
        return {
            "protocol": self.config.protocol,
            "data_source": self.data.source,
            "pipeline": self.config.identity(),
        }

    def _data_hashes(self, participants) -> dict:
        return {
            f"s{p:02d}": file_sha256(participant_path(self.data.directory, p)) for p in participants
        }

    def _write(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg)
        else:
            self.log(msg)

    # ---- one unit ------------------------------------------------------------------------
    def tuned_network(self, participant: int, method: str, seed: int, group):
        """A network holding the pretrained state with ``method`` applied (untrained)."""
        m = METHODS[method]
        if m.family != "snn":
            raise PipelineError(f"method {method} ({m.label}) is not a spiking network")
        state = self.pretrained(group, m.arch)
        net = build_arch(m.arch, beta=self.config.beta, seed=self.config.pretrain_seed)
        net.load_state_dict(state)
        return net, apply_method(net, m, seed)

    def finished_network(self, participant: int, method: str, seed: int, group):
        """The tuned network of a finished unit (its model file; ``none``: the pretrained)."""
        net, _ = self.tuned_network(participant, method, seed, group)
        if METHODS[method].tuning is not None:
            d = unit_dir(self.run_dir, participant, method, seed)
            saved = _read_model(d, "tuned model")
            if saved is None:
                raise PipelineError(f"no tuned model in {d}")
            merge_adapters(net).load_state_dict(saved[0])
        return net

    @_fixed_threads
    def run_unit(self, participant: int, method: str, seed: int, group) -> dict:
        c = self.config
        t0 = time.perf_counter()
        td = self.unit_data(participant, seed)
        if METHODS[method].family == "logreg":
            return self._logreg_row(participant, method, seed, group, td, t0)
        net, n_trainable = self.tuned_network(participant, method, seed, group)
        d = unit_dir(self.run_dir, participant, method, seed)
        d.mkdir(parents=True, exist_ok=True)
        hist, best_epoch, stopped = [], None, False
        if METHODS[method].tuning is not None:
            saved = _read_model(d, "tuned model")
            if saved is not None:
                state, meta = saved
                merge_adapters(net).load_state_dict(state)
                hist, best_epoch, stopped = meta["history"], meta["best_epoch"], meta["stopped"]
            elif METHODS[method].learner == "ondevice":
                meta = tune_unit(self, participant, method, seed, group, td, net)
            else:
                cfg = _train_config(c, tune=True, seed=seed)
                val = _tensors(td.x_val, td.y_val) if c.select == "val" else None
                test = _tensors(td.x_test, td.y_test) if c.select == "test" else None
                with sparse_gradients(net, c.sparse_grad):
                    hist, best_epoch, stopped = _train(
                        net, _tensors(td.x_train, td.y_train), cfg, d, c.fused, val, test
                    )
                merge_adapters(net)  # LoRA: the tuned model is the plain network W + B A
                meta = {
                    "role": "tuned", "participant": participant, "method": method,
                    "arch": METHODS[method].arch, "tuning": list(METHODS[method].tuning),
                    "pretrain_key": pretrain_key(group), "history": hist,
                    "best_epoch": best_epoch, "stopped": bool(stopped),
                    "data_sha256": self._data_hashes([participant]), **self._provenance(),
                }  # fmt: skip
                _save_model(d, net, meta, seed=seed)
        ecfg = TrainConfig(T=c.T, batch_size=c.batch_size, spike_l1=c.spike_l1, select="last")
        res = {
            part: evaluate(net, *_tensors(getattr(td, f"x_{part}"), getattr(td, f"y_{part}")), ecfg)
            if len(getattr(td, f"y_{part}")) else {"acc": None}
            for part in ("train", "val", "test")
        }  # fmt: skip
        return {
            "schema": SCHEMA,
            "kind": "tune",
            "participant": participant,
            "method": method,
            "seed": seed,
            "protocol": c.protocol,
            "arch": METHODS[method].arch,
            "pretrain_key": pretrain_key(group),
            "test_acc": res["test"]["acc"],
            "val_acc": res["val"]["acc"],
            "train_acc": res["train"]["acc"],
            "n_trainable": int(n_trainable),
            "n_train": int(len(td.y_train)),
            "n_val": int(len(td.y_val)),
            "n_test": int(len(td.y_test)),
            "test_high": int(np.sum(td.y_test)),
            "best_epoch": best_epoch,
            "epochs_run": len(hist),
            "stopped_early": bool(stopped),
            "selection": c.select,
            **(qat_unit_fields(self, participant, method, seed, group, td) if c.qat else {}),
            **(
                ondevice_fields(self, participant, method, seed, td, meta)
                if METHODS[method].learner == "ondevice"
                else {}
            ),  # fmt: skip
            "device": self._device(method),
            **sparse_fields(c),
            **self._test_detail(td, _predictions(net, td.x_test, c.T)),
            "seconds": round(time.perf_counter() - t0, 2),
        }

    def _device(self, method: str) -> str:
        """Where the unit's tuning ran (torch's device; numpy on the CPU for ondevice)."""
        m = METHODS[method]
        torch_tuned = bool(m.tuning) and m.learner == "bptt"
        return str(resolve_device(self.config.device)) if torch_tuned else "cpu"

    def _test_detail(self, td: TuningData, pred: np.ndarray) -> dict:
        """What the statistics need from a unit: the trial of each test instance, whether it was
        classified correctly, the number of distinct binary test inputs, and the settings that
        fix the numbers (pretraining seed, torch threads)."""
        return {
            "test_trials": (td.split.test_instances // td.split.n_augment).tolist(),
            "test_correct": (np.asarray(pred) == td.y_test).astype(int).tolist(),
            "test_distinct": int(len(np.unique(td.x_test, axis=0))) if len(td.y_test) else 0,
            "pretrain_seed": self.config.pretrain_seed,
            "threads": self.config.threads,
        }

    def _logreg_row(self, participant, method, seed, group, td: TuningData, t0) -> dict:
        """The results row of the per-person logistic-regression baseline."""
        c = self.config
        r = logistic_regression(td, c.select)
        return {
            "schema": SCHEMA, "kind": "tune", "participant": participant, "method": method,
            "seed": seed, "protocol": c.protocol, "arch": "logreg",
            "pretrain_key": pretrain_key(group), "test_acc": r.acc["test"],
            "val_acc": r.acc["val"], "train_acc": r.acc["train"], "n_trainable": r.n_parameters,
            "n_train": int(len(td.y_train)), "n_val": int(len(td.y_val)),
            "n_test": int(len(td.y_test)), "test_high": int(np.sum(td.y_test)),
            "best_epoch": None, "epochs_run": 0, "stopped_early": False, "selection": c.select,
            "logreg_C": r.C, "device": "cpu", **sparse_fields(c),
            **self._test_detail(td, r.test_pred),
            "seconds": round(time.perf_counter() - t0, 2),
        }  # fmt: skip

    @_fixed_threads
    def deploy_unit(self, participant: int, method: str, seed: int, group) -> dict:
        t0 = time.perf_counter()
        if METHODS[method].family != "snn":  # nothing to deploy; the row marks the unit done
            return {
                "schema": SCHEMA, "kind": "deploy", "participant": participant, "method": method,
                "seed": seed, "protocol": self.config.protocol, "deployable": False,
                "n_samples": 0, "fixed_status": "not a spiking network",
                "threads": self.config.threads, "seconds": 0.0, **sparse_fields(self.config),
            }  # fmt: skip
        td = self.unit_data(participant, seed)
        net = self.finished_network(participant, method, seed, group)
        x, y = td.x_test, td.y_test
        n = self.config.lava_samples
        if n is not None and n < len(y):
            # evenly spread over the test part (consecutive instances are one trial's copies)
            idx = check_indices(len(y), n)
            x, y = x[idx], y[idx]
        learned = (learned_fixed(self, participant, method, seed)
                   if METHODS[method].learner == "ondevice" else None)  # fmt: skip
        # reference mode: the float, fixed and QAT Lava checks run in one Lava runtime
        checks = LavaChecks(self.config.lava_timeout) if self.config.lava_check else None
        row = deploy_model(
            net,
            x,
            y,
            T=self.config.T,
            fixed=self.config.lava_fixed,
            quantized=learned,
            timeout=self.config.lava_timeout,
            save_spikes=unit_dir(self.run_dir, participant, method, seed) / "deploy.npz",
            lava_check=self.config.lava_check,
            checks=checks,
        )
        qrow = {}
        if self.config.qat and self.config.lava_fixed:  # the QAT model on Lava fixed point
            qrow = qat_deploy_fields(self, participant, method, seed, x, y, row, checks)
        if checks is not None:
            row.update(checks.run())
        row.update(qrow)
        row.update(
            schema=SCHEMA, kind="deploy", participant=participant, method=method, seed=seed,
            protocol=self.config.protocol, threads=self.config.threads,
            seconds=round(time.perf_counter() - t0, 2), **sparse_fields(self.config),
        )  # fmt: skip
        return row


def _predictions(net, x: np.ndarray, T: int) -> np.ndarray:
    """Class decisions of ``net`` on static inputs ``x`` (population counts, as ``evaluate``)."""
    if not len(x):
        return np.zeros(0, dtype=np.int64)
    was = net.training
    net.eval()
    with torch.no_grad():
        xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        out = net.forward_static(xt.to(next(net.parameters()).device), T)
        pred = predictions(out, 2).cpu().numpy()
    net.train(was)
    return pred


def _progress_bar(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    return tqdm(total=total, initial=initial, desc="LOSO units", unit="unit", dynamic_ncols=True)


def _pipeline_for(run_dir, need_features: Iterable[int] = ()) -> _Pipeline:
    run_dir = Path(run_dir)
    info = load_run_info(run_dir)
    config = config_from_info(info)
    d = info["data"]
    data = DataInfo(run_dir / d["directory"], d["source"], list(d["pool"]), d.get("synthetic"))
    pipe = _Pipeline(run_dir, config, data, log=lambda s: None)
    need = list(need_features)
    if need and config.thresholds == "population":  # the fold's thresholds need everybody
        need = list(data.pool)
    if need:
        pipe.features = load_features(data, run_dir, config.feature_seed, need)
    return pipe


def load_unit_model(run_dir, participant: int, method: str, seed: int):
    """The tuned network of one finished unit (float32 ``NTNetwork``) and its :class:`TuningData`.

    Needs the run directory's pretrained model and (for the data) its data directory.
    """
    pipe = _pipeline_for(run_dir, [participant])
    group = fold_groups(pipe.data.pool, pipe.config.fold_group_size)[participant]
    net = pipe.finished_network(participant, method, seed, group)
    return net, pipe.unit_data(participant, seed)


def unit_data(run_dir, participant: int, seed: int) -> TuningData:
    """The split and binary inputs of one participant and seed, as the run used them."""
    return _pipeline_for(run_dir, [participant]).unit_data(participant, seed)
