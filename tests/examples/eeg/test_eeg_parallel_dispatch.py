"""The Ray dispatch of ``lava-nt eeg run --workers N`` (``pipeline.parallel._schedule``) runs the
pretrainings first and then, whenever a worker is free, the ready unit with the longest expected
time (the per-method cost model), ties in the run's order. A fake Ray (workers finish in dispatch
order) records what is dispatched; that results equal a serial run is the Ray test in
test_eeg_rerun_cli.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lava_nt.examples.eeg.pipeline import parallel
from lava_nt.examples.eeg.pipeline.config import METHODS
from lava_nt.examples.eeg.pipeline.steps import pretrain_key


class _Ref:
    def __init__(self, what):
        self.what = what


class _Call:
    def __init__(self, log, kind):
        self.log, self.kind = log, kind

    def remote(self, *args):
        what = (self.kind, args[:3] if self.kind == "unit" else (args[0], args[1]))
        self.log.append(what)
        return _Ref(what)


class _FakeRay:
    """Workers finish their tasks in the order they were dispatched."""

    exceptions = SimpleNamespace(RayActorError=RuntimeError, RayTaskError=ValueError)

    def wait(self, refs, num_returns=1):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        return []


def _dispatch(todo, done_pre, n_workers=2, lava=True, done_tune=()):
    log: list = []
    actors = [
        SimpleNamespace(pretrain=_Call(log, "pretrain"), unit=_Call(log, "unit"))
        for _ in range(n_workers)
    ]
    groups = {p: (p,) for p, _, _ in todo}
    done = {"pretrain": set(done_pre), "tune": set(done_tune), "deploy": set()}
    config = SimpleNamespace(lava=lava)
    parallel._schedule(_FakeRay(), actors, config, todo, groups, done, None, lambda rows: None)
    return log


def _todo(folds, methods, seeds=(0,)):
    return [(p, m, s) for p in folds for m in methods for s in seeds]


METHODS7 = ("none", "nt2", "spiking_bias", "spiking_bias_sparse", "volumetric", "ablation", "tft")


def test_longest_unit_first_ties_in_run_order():
    todo = _todo((1, 2), METHODS7, seeds=(0, 1))
    pre = {(pretrain_key((p,)), METHODS[m].arch) for p, m, _ in todo}
    log = _dispatch(todo, pre)
    assert all(kind == "unit" for kind, _ in log) and len(log) == len(todo)
    order = [u for _, u in log]
    costs = [parallel.unit_cost(m, True, True) for _, m, _ in order]
    assert costs == sorted(costs, reverse=True)
    assert [m for _, m, _ in order[:4]] == ["spiking_bias"] * 4
    assert order[:4] == [(1, "spiking_bias", 0), (1, "spiking_bias", 1), (2, "spiking_bias", 0),
                         (2, "spiking_bias", 1)]  # fmt: skip
    assert [m for _, m, _ in order[-4:]] == ["none"] * 4
    assert sorted(order) == sorted(todo)


def test_pretrainings_first_then_units_as_they_become_ready():
    todo = _todo((1, 2), ("none", "nt2", "volumetric", "ablation"))
    log = _dispatch(todo, done_pre=set())
    kinds = [kind for kind, _ in log]
    n_pre = 4  # 2 folds x (main, ablation)
    assert kinds == ["pretrain"] * n_pre + ["unit"] * len(todo)
    assert [w for kind, w in log[:n_pre]] == [((1,), "main"), ((1,), "ablation"),
                                              ((2,), "main"), ((2,), "ablation")]  # fmt: skip
    # all four pretrainings are dispatched before any unit; then the dearest ready unit first,
    # the earlier fold on a tie
    units = [u for kind, u in log if kind == "unit"]
    assert units[:2] == [(1, "volumetric", 0), (2, "volumetric", 0)]
    assert units[-2:] == [(1, "none", 0), (2, "none", 0)]
    assert sorted(units) == sorted(todo)


def test_cost_model_counts_only_the_missing_stages():
    t, d = parallel.UNIT_COST_S["spiking_bias"]
    assert parallel.unit_cost("spiking_bias", True, True) == pytest.approx(t + d)
    assert parallel.unit_cost("spiking_bias", False, True) == pytest.approx(d)
    assert parallel.unit_cost("spiking_bias", True, False) == pytest.approx(t)
    assert set(METHODS) <= set(parallel.UNIT_COST_S)  # every method has a stated cost
    assert parallel.unit_cost("no-such-method", True, True) > 0
    # a unit whose tuning is done (deployment left) is cheaper than a fresh nt2 unit
    todo = [(1, "spiking_bias", 0), (1, "nt2", 0)]
    pre = {(pretrain_key((1,)), "main")}
    log = _dispatch(todo, pre, n_workers=1, done_tune={(1, "spiking_bias", 0)})
    assert [u for _, u in log] == [(1, "nt2", 0), (1, "spiking_bias", 0)]
