"""Batched personalisation on the EEG network: K people tuned together vs one after another.

Workload (issue 12, part 2): ``build_network(160, [400, 800])`` (2 classes x 50 output neurons,
float32, T = 25) with NT2 (``apply_tuning(net, "nt2")``: the biases are tuned, the weights frozen
and shared), K = 32 people, each with 104 static binary training samples ``[104, 160]`` and 26
validation samples of its own (seeded), batch 32, Adam lr 1e-4, spike L1 1e-3, a fixed number of
epochs without patience, model selection on the validation accuracy (ties: lower validation loss).

* (a) batched: one :func:`lava_nt.personalise.personalise_batched` call for all K people
  (fused path, default person groups);
* (b) one after another, same code: K calls of ``personalise_batched`` with one person each
  (fused path) -- the fair "one person at a time" baseline;
* (c) one after another as the EEG pipeline does it: :func:`lava_nt.training.train` per person
  on a ``FusedNTNetwork`` with a run directory (metrics file, checkpoints, ``best.pt``) in a
  temporary directory.

The variants run side by side in interleaved rounds; ratios are medians of the per-round paired
ratios. A second table times one training iteration (forward + backward + Adam) of the batched
step for P persons per pass next to the dense matmuls of the same shapes, which is where the
batching gain comes from (or not).

Run: ``.venv/bin/python benchmarks/bench_personalise.py [--quick] [--json out.json]``.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

N_IN, HIDDEN, N_CLASSES, POP = 160, (400, 800), 2, 50
N_TRAIN, N_VAL, B, T = 104, 26, 32, 25
LR, SEED = 1e-4, 0
GOAL = 4.0


def _people(torch, K: int, seed: int = 1234):
    """``K`` people's (train, val) sets: labels 0/1; inputs on with p = 0.4, and for class 1 a
    person-specific block of 16 inputs on with p = 0.7 (deterministic from ``seed``)."""
    train, val = [], []
    for k in range(K):
        g = torch.Generator().manual_seed(seed + k)
        block = torch.randperm(N_IN, generator=g)[:16]
        sets = []
        for n in (N_TRAIN, N_VAL):
            y = torch.randint(0, N_CLASSES, (n,), generator=g)
            p = torch.full((n, N_IN), 0.4)
            p[(y == 1).nonzero()[:, :1], block] = 0.7
            sets.append(((torch.rand(n, N_IN, generator=g) < p).float(), y))
        train.append(sets[0])
        val.append(sets[1])
    return train, val


def _base_net(torch):
    from lava_nt.builder import build_network
    from lava_nt.tuning import apply_tuning

    net = build_network(N_IN, list(HIDDEN), N_CLASSES, POP, seed=SEED)
    apply_tuning(net, "nt2")
    return net


def _variants(torch, base, train, val, cfg, out: dict):
    """The three ways, each storing its selected parameters and epochs in ``out``."""
    from lava_nt.nn.fused import FusedNTNetwork
    from lava_nt.personalise import personalise_batched
    from lava_nt.training import train as train_one

    K = len(train)

    def params(net):
        return {n: p.detach().clone() for n, p in net.named_parameters() if p.requires_grad}

    def batched():
        net = copy.deepcopy(base)
        res = personalise_batched(FusedNTNetwork.from_network(net), train, cfg, val)
        out["a"] = (params(net), [r.best_epoch for r in res])

    def one_by_one():
        ps, eps = [], []
        for k in range(K):
            net = copy.deepcopy(base)
            res = personalise_batched(
                FusedNTNetwork.from_network(net), train[k : k + 1], cfg, val[k : k + 1]
            )
            ps.append(params(net))
            eps.append(res[0].best_epoch)
        out["b"] = ({n: torch.cat([p[n] for p in ps]) for n in ps[0]}, eps)

    def pipeline():
        tmp = tempfile.mkdtemp(prefix="bench_personalise_")
        try:
            ps, eps = [], []
            for k in range(K):
                net = copy.deepcopy(base)
                res = train_one(
                    FusedNTNetwork.from_network(net), train[k], cfg, val[k],
                    run_dir=os.path.join(tmp, f"person{k:02d}"),
                )  # fmt: skip
                ps.append({n: p[None, None] for n, p in params(net).items()})
                eps.append(res.best_epoch)
            out["c"] = ({n: torch.cat([p[n] for p in ps]) for n in ps[0]}, eps)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    return {"(a) batched": batched, "(b) one by one": one_by_one, "(c) pipeline": pipeline}


def _agreement(out: dict, x: str, y: str) -> str:
    px, ex = out[x]
    py, ey = out[y]
    diff = max(float((px[n] - py[n]).abs().max()) for n in px)
    same = sum(a == b for a, b in zip(ex, ey, strict=True))
    return (
        f"selected epoch equal for {same}/{len(ex)} people, max |parameter difference| {diff:.2g}"
    )


def _pass_table(torch, rounds: int, sizes=(1, 2, 4, 6, 8, 16, 32)):
    """ms per training iteration of the batched step (fused NT2, P persons x batch 32 in one
    pass) and of its dense matmuls alone (same shapes), interleaved."""
    from lava_nt.nn.fused import FusedNTNetwork
    from lava_nt.personalise import _batched_loss
    from lava_nt.training import TrainConfig

    cfg = TrainConfig(T=T, n_classes=N_CLASSES, lr=LR)
    base = _base_net(torch)
    widths = (N_IN, *HIDDEN, N_CLASSES * POP)
    ws = [layer.linear.weight.detach() for layer in base.layers]
    fns, reps = {}, {}
    for P in sizes:
        net = copy.deepcopy(base).expand_parameters(P)
        model = FusedNTNetwork.from_network(net)
        opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=LR)
        g = torch.Generator().manual_seed(P)
        x = (torch.rand(P, B, N_IN, generator=g) < 0.4).float()
        y = torch.randint(0, N_CLASSES, (P, B), generator=g)

        def step(model=model, opt=opt, x=x, y=y):
            opt.zero_grad(set_to_none=True)
            loss, _ = _batched_loss(model, x, y, cfg)
            loss.sum().backward()
            opt.step()

        # the dense matmuls of that step: layer 1 once (static input), layers 2-3 for all T
        # steps, and the input gradients of layers 3 and 2 (tuning: no weight gradients)
        M = T * P * B
        s1 = (torch.rand(M, widths[1], generator=g) < 0.1).float()
        s2 = (torch.rand(M, widths[2], generator=g) < 0.1).float()
        g3 = torch.randn(M, widths[3], generator=g)
        g2 = torch.randn(M, widths[2], generator=g)
        x1 = x.reshape(P * B, N_IN)

        def mm(x1=x1, s1=s1, s2=s2, g3=g3, g2=g2):
            x1 @ ws[0].T
            s1 @ ws[1].T
            s2 @ ws[2].T
            g3 @ ws[2]
            g2 @ ws[1]

        reps[P] = max(1, 16 // P)
        fns[f"step P={P}"] = lambda f=step, r=reps[P]: [f() for _ in range(r)]
        fns[f"mm P={P}"] = lambda f=mm, r=reps[P]: [f() for _ in range(r)]
    times = common.interleaved(fns, rounds, 1, warmup=1, log=common.log)
    rows = []
    for P in sizes:
        t_step = [t / reps[P] for t in times[f"step P={P}"]]
        t_mm = [t / reps[P] for t in times[f"mm P={P}"]]
        rows.append(
            {
                "P": P,
                "ms": common.median(t_step) * 1e3,
                "spread": common.spread([t * 1e3 for t in t_step]),
                "sps": P * B / common.median(t_step),
                "mm_ms": common.median(t_mm) * 1e3,
                "mm_share": common.ratio_median(t_mm, t_step),
                "mb": T * P * B * max(widths) * 4 / 2**20,
                "t_step": t_step,
            }
        )
    return rows


def _fit(rows, max_p: int = 4) -> tuple[float, float]:
    """Least-squares ``ms/iter = fixed + per_person * P`` over the pass sizes up to ``max_p``."""
    pts = [(r["P"], r["ms"]) for r in rows if r["P"] <= max_p]
    n = len(pts)
    mx = sum(p for p, _ in pts) / n
    my = sum(t for _, t in pts) / n
    slope = sum((p - mx) * (t - my) for p, t in pts) / sum((p - mx) ** 2 for p, _ in pts)
    return my - slope * mx, slope


def run(quick: bool) -> dict:
    import torch

    from lava_nt.personalise import default_group
    from lava_nt.training import TrainConfig

    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    load0 = common.load_average()
    K = 16 if quick else 32
    epochs = 2 if quick else 3
    rounds = 3 if quick else 4
    cfg = TrainConfig(
        epochs=epochs, lr=LR, batch_size=B, T=T, n_classes=N_CLASSES, select="val", seed=SEED
    )
    base = _base_net(torch)
    train, val = _people(torch, K)
    group = default_group(base, cfg)
    samples = K * epochs * (N_TRAIN + N_VAL)

    results = {}
    thread_runs = [(2, rounds, ("(a) batched", "(b) one by one", "(c) pipeline"))]
    if not quick:
        thread_runs.append((1, 2, ("(a) batched", "(b) one by one")))
    for threads, n_rounds, names in thread_runs:
        torch.set_num_threads(threads)
        out: dict = {}
        fns = _variants(torch, base, train, val, cfg, out)
        fns = {n: fns[n] for n in names}
        # warm-up: two people, one epoch, every variant (allocator, thread pool, imports)
        w_out: dict = {}
        w_cfg = TrainConfig(**{**cfg.__dict__, "epochs": 1})
        for f in _variants(torch, base, train[:2], val[:2], w_cfg, w_out).values():
            f()
        common.log(f"personalise benchmark, {threads} thread(s): {n_rounds} rounds, K={K}")
        times = common.interleaved(fns, n_rounds, 1, warmup=0, log=common.log)
        results[threads] = (times, dict(out))

    torch.set_num_threads(2)
    common.log("pass-size table ...")
    rows = _pass_table(torch, 3 if quick else 4)

    times, out = results[2]
    med = {n: common.median(t) for n, t in times.items()}

    def raw(a, b, m=med):
        return (
            f"{samples / m[a]:.0f} vs {samples / m[b]:.0f} samples/s ({m[a]:.2f} vs "
            f"{m[b]:.2f} s for {K} people)"
        )

    figs = []
    fair = common.ratio_median(times["(b) one by one"], times["(a) batched"])
    met = fair >= GOAL
    by_p = {r["P"]: r for r in rows}
    best = max(rows, key=lambda r: r["sps"])
    bound = best["sps"] / by_p[1]["sps"]
    # the measured per-sample time of a pass, split into matmuls and the rest
    # per training sample (µs): the whole iteration and its dense matmuls, per pass size
    us = {r["P"]: r["ms"] * 1e3 / (r["P"] * B) for r in rows}
    mm_us = {r["P"]: r["mm_ms"] * 1e3 / (r["P"] * B) for r in rows}
    mm_min = min(mm_us.values())
    mm_bound = us[1] / mm_min
    big = max(by_p)
    fit_fixed, fit_slope = _fit(rows)
    fit_bound = by_p[1]["ms"] / fit_slope
    mm_flops = common.static_matmul_flops((N_IN, *HIDDEN, N_CLASSES * POP), T)["tune"]
    why = (
        f"the FLOPs per sample are the same both ways ({mm_flops / 1e6:.0f} M dense "
        "matmul FLOPs per training sample), so batching can only remove per-call and per-kernel "
        f"overhead. Per training sample (table below), one person per pass costs {us[1]:.0f} us "
        f"of which {mm_us[1]:.0f} us are its dense matmuls; the best pass size measured "
        f"({best['P']} persons) costs {us[best['P']]:.0f} us ({mm_us[best['P']]:.0f} us "
        f"matmuls): batching the training step gains {bound:.2f}x. A straight-line fit of the "
        f"iteration time over P <= 4 (before the cache effects) gives {fit_fixed:.1f} ms "
        "fixed per pass (what batching amortises: Python, kernel launches, Adam) + "
        f"{fit_slope:.1f} ms per person (per "
        f"{B} samples): {100 * fit_fixed / by_p[1]['ms']:.0f} % of a one-person iteration "
        f"({by_p[1]['ms']:.1f} ms), so removing it entirely would give {fit_bound:.2f}x. "
        "Even if everything but the "
        f"matmuls were free, a sample could not cost less than the cheapest matmul time measured "
        f"({mm_min:.0f} us), i.e. at most {mm_bound:.1f}x over one person per pass"
        + (f", {'below' if mm_bound < GOAL else 'above'} the {GOAL:g}x target")
        + "."
    )
    if big != best["P"] and us[big] > us[best["P"]]:
        why += (
            f" All {big} persons in one pass are slower per sample ({us[big]:.0f} us) than "
            f"{best['P']}: its [T, {big * B}, 800] float32 tensors are {by_p[big]['mb']:.0f} MB "
            "each (out of cache"
            + (
                "; above glibc's 32 MB mmap threshold every such allocation is fresh, "
                "page-faulted memory"
                if by_p[big]["mb"] > 32
                else ""
            )
            + "), hence the person groups."
        )
    why += (
        " The rest of the gap between (a) and (b) is validation and per-step bookkeeping, "
        "batched in (a) as well"
    )
    figs.append(
        common.figure(
            f"(a) batched / (b) one by one, K={K}, 2 threads (samples/s)",
            fair,
            raw("(a) batched", "(b) one by one"),
            f">= {GOAL:g}x",
            met,
            result=common.target_text(met, fair, GOAL, True),
            note="" if met else why,
        )
    )
    figs.append(
        common.figure(
            f"(a) batched / (c) pipeline (train() per person, run_dir), K={K}, 2 threads",
            common.ratio_median(times["(c) pipeline"], times["(a) batched"]),
            raw("(a) batched", "(c) pipeline"),
        )
    )
    if 1 in results:
        t1, _ = results[1]
        m1 = {n: common.median(t) for n, t in t1.items()}
        figs.append(
            common.figure(
                f"(a) batched / (b) one by one, K={K}, 1 thread (samples/s)",
                common.ratio_median(t1["(b) one by one"], t1["(a) batched"]),
                raw("(a) batched", "(b) one by one", m1),
                f"(>= {GOAL:g}x)",
                None,
            )
        )
    t_a, t_b, t_c = times["(a) batched"], times["(b) one by one"], times["(c) pipeline"]
    per_person = [(b - a) / K * 1e3 for a, b in zip(t_a, t_b, strict=True)]
    figs.append(
        common.figure(
            "per-person time saved by batching: ((b) - (a)) / K",
            common.median(per_person),
            f"{med['(b) one by one'] / K * 1e3:.0f} vs {med['(a) batched'] / K * 1e3:.0f} ms "
            "per person",
            unit=" ms",
        )
    )
    extra_c = [(c - b) / K * 1e3 for b, c in zip(t_b, t_c, strict=True)]
    figs.append(
        common.figure(
            "per-person overhead of the pipeline way: ((c) - (b)) / K",
            common.median(extra_c),
            f"{med['(c) pipeline'] / K * 1e3:.0f} vs {med['(b) one by one'] / K * 1e3:.0f} ms "
            "per person",
            unit=" ms",
            note="train() per person adds its metrics file, checkpoints and best.pt (fsynced) "
            "and a float()/int() synchronisation per batch; it is the same computation otherwise",
        )
    )
    figs.append(
        common.figure(
            "fixed cost per training iteration (what batching amortises), of a 1-person iteration",
            100 * fit_fixed / by_p[1]["ms"],
            f"{fit_fixed:.1f} of {by_p[1]['ms']:.1f} ms ({fit_slope:.1f} ms per person and pass)",
            unit=" %",
            note="straight-line fit of the iteration times for P <= 4 persons per pass (table "
            "below; larger passes grow faster than linearly, cache effects)",
        )
    )
    figs.append(
        common.figure(
            f"training step alone: best pass size ({best['P']} persons) / 1 person per pass",
            common.ratio_median(by_p[1]["t_step"], best["t_step"]) * best["P"],
            f"{best['sps']:.0f} vs {by_p[1]['sps']:.0f} samples/s",
            note="per-sample speed of one training iteration (forward + backward + Adam; table "
            "below): the gain batching can bring to the training step itself",
        )
    )

    table = [
        f"One training iteration (fused NT2, forward + backward + Adam) for P persons x batch {B} "
        "in one pass, 2 threads, and the dense matmuls of the same shapes alone:",
        "",
        "| persons per pass P | samples per pass | [T, P*B, 800] tensor | ms/iter (median, "
        "min-max) | samples/s | matmuls alone, ms | matmul share |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        table.append(
            f"| {r['P']}{' (default group)' if r['P'] == group else ''} | {r['P'] * B} | "
            f"{r['mb']:.1f} MB | {r['ms']:.1f} ({r['spread']}) | {r['sps']:.0f} | "
            f"{r['mm_ms']:.1f} | {100 * r['mm_share']:.0f} % |"
        )

    setup = [
        f"EEG network {N_IN}-{'-'.join(map(str, HIDDEN))}-{N_CLASSES * POP} (build_network, "
        f"float32), NT2 (biases tuned, weights frozen and shared), T={T}; K={K} people"
        + (" (scaled down from 32 for --quick)" if quick else "")
        + f", each {N_TRAIN} training + {N_VAL} validation static binary samples of its own; "
        f"batch {B}, Adam lr {LR:g}, spike L1 1e-3, {epochs} epochs, no patience, selection on "
        "validation accuracy (ties: lower validation loss).",
        f"(a) one personalise_batched call for all K (FusedNTNetwork; default person groups of "
        f"{group}: {K} people in passes of ~{group} x {B} samples); (b) K personalise_batched "
        "calls with one person each (FusedNTNetwork); (c) lava_nt.training.train per person on a "
        "FusedNTNetwork with a run directory (metrics.jsonl, checkpoint.pt, best.pt) in a "
        "temporary directory, as the EEG pipeline trains (the pipeline also evaluates a test set "
        "every epoch; not done here).",
        f"samples/s = K x epochs x (train + validation samples) = {samples} samples / wall time. "
        f"{rounds} interleaved rounds at torch.set_num_threads(2)"
        + ("" if quick else ", then 2 rounds of (a) and (b) at 1 thread")
        + "; one warm-up call per variant (2 people, 1 epoch); ratios are medians of the paired "
        f"per-round ratios. Load average (1, 5, 15 min) at the start: {load0}, at the end: "
        f"{common.load_average()} (2 cores).",
    ]
    notes = [
        "(a) vs (b) result check: " + _agreement(out, "a", "b") + " (float32; the fused "
        "path equals separate runs to float rounding: a pass over more samples may round its "
        "matmuls differently, and a spike flipped by rounding can move a person's trajectory; "
        "tests prove equality in float64).",
        "(a) vs (c) result check: " + _agreement(out, "a", "c") + ".",
    ]
    if 1 in results:
        notes.append("1 thread, (a) vs (b) result check: " + _agreement(results[1][1], "a", "b"))
    return {
        "title": "Batched personalisation (EEG network, NT2)",
        "setup": setup,
        "figures": figs,
        "notes": notes,
        "extra": ["\n".join(table)],
    }


if __name__ == "__main__":
    common.main(run, __doc__.splitlines()[0])
