"""The closing summary of ``lava-nt eeg run``: mean test accuracy per method, with the Lava
deployment accuracies beside the torch ones."""

from __future__ import annotations

SUMMARY_COLUMNS = (
    ("lava_float_acc", "Lava float"),
    ("lava_fixed_acc", "Lava fixed, PTQ"),  # ondevice units: the network learned in fixed point
    ("qat_lava_fixed_acc", "Lava fixed, QAT"),
    ("qat_train_deploy_agreement", "QAT train->deploy agreement"),
)

#: methods whose fixed-point model is learned in fixed point (not post-training quantised)
LEARNED_FIXED = ("ondevice",)


def print_summary(run_dir) -> None:
    """Mean test accuracy per method (and Lava accuracies: float, post-training-quantised fixed
    point and, with --qat, the QAT model on fixed point with its train->deploy agreement)."""
    from lava_nt.examples.eeg.report import accuracy_table
    from lava_nt.examples.eeg.study import study_rows

    rows = study_rows(run_dir)
    table = accuracy_table(rows)
    if not table["methods"]:
        return
    dep: dict = {}
    for r in rows:
        if r["kind"] == "deploy" and r.get("deployable") is not False:
            for k, _ in SUMMARY_COLUMNS:
                if r.get(k) is not None:
                    dep.setdefault((r["method"], k), []).append(r[k])
    print(f"\nmean test accuracy over {len(table['participants'])} left-out participant(s):")
    for m in table["methods"]:
        o = table["mean"][m]
        line = f"  {m:20s} {o['mean']:.3f} (torch)"
        for k, name in SUMMARY_COLUMNS:
            v = dep.get((m, k))
            if v:
                if k == "lava_fixed_acc" and m in LEARNED_FIXED:
                    name = "Lava fixed, learned in fixed point"
                line += f"  {sum(v) / len(v):.3f} ({name})"
        print(line)
