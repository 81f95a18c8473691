"""OCSDF at the paper's settings on the ODDS sets (paper Table 2): AD protocol, m sweep, Isolation Forest.

AD protocol as the paper runs it: train on every row (labels unseen), score every row, z-scored features.
Each (set, m) pair runs --runs seeds (0, 1, ...) of `OCSDFClassifier(**PRESETS["paper"], margin=m)`
plus Isolation Forest on the same rows. Results go to benchmarks/results/oneclass_paper_<TAG>.json
after every (set, m) pair, so parallel or interrupted sweeps keep what finished; `--report` merges every
oneclass_paper_*.json into oneclass_paper.md / oneclass_paper.json with the paper's column and both
m-selection rules: the paper's "best average over runs" (an oracle: it picks m with the labels) and a
fixed m chosen beforehand (--fixed-m, 0.05). `--histogram SET` draws F for the normal rows, the
anomalies, uniform negatives of B and Newton negatives (paper Fig. 7) into oneclass_paper_hist_SET.png.

    OMP_NUM_THREADS=1 nice python benchmarks/bench_oneclass_paper.py --runs 20 --m 0.05 --tag a
    python benchmarks/bench_oneclass_paper.py --report
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from levelrecon.classify.datasets import load_dataset  # noqa: E402
from levelrecon.classify.ocsdf import PAPER_MARGINS, preset_params  # noqa: E402
from levelrecon.classify.protocols import evaluate  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
SETS = ("cardio", "glass", "ionosphere", "lympho", "pima", "vertebral")
# Paper Table 2, AD protocol, AUROC % (20 runs, best average over m): OCSDF mean, std; Isolation Forest.
PAPER = {"cardio": (95.0, 0.1, 93.2), "glass": (73.9, 4.1, 77.1), "ionosphere": (80.2, 0.1, 84.5),
         "lympho": (96.1, 4.9, 99.8), "pima": (60.7, 1.0, 72.9), "vertebral": (48.6, 2.6, 36.7)}
EPS = (0.1, 0.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--m", default=",".join(f"{m:g}" for m in PAPER_MARGINS), help="comma-separated margins")
    ap.add_argument("--fixed-m", type=float, default=0.05, help="the m reported without label-based selection")
    ap.add_argument("--set-param", action="append", default=[], metavar="KEY=VALUE",
                    help="override a preset parameter (Python literal), e.g. kernels='bjorck'")
    ap.add_argument("--tag", default="main", help="results file suffix (one per parallel process)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", action="store_true", help="merge the result files into the Markdown table")
    ap.add_argument("--histogram", metavar="SET", help="draw the score histograms of one set (seed 0)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {k: eval(v, {}) for k, v in (p.split("=", 1) for p in args.set_param)}  # noqa: S307 — CLI of a script
    if args.report:
        report(args.fixed_m)
        return
    if args.histogram:
        histogram(Path(args.data), args.histogram, float(args.m.split(",")[0]), overrides)
        return
    out = RESULTS / f"oneclass_paper_{args.tag}.json"
    records = json.loads(out.read_text())["records"] if out.exists() else []
    for name in args.sets.split(","):
        ds = load_dataset(Path(args.data) / "odds" / f"{name}.mat")
        for m in (float(v) for v in args.m.split(",")):
            params = {**preset_params("paper"), **overrides, "margin": m}
            stamps, cpu = [time.perf_counter()], [time.process_time()]

            def tick(done: int, total: int, stamps: list = stamps, cpu: list = cpu) -> None:
                stamps.append(time.perf_counter())
                cpu.append(time.process_time())

            res = evaluate(ds, "ad", args.runs, EPS, ("iforest",), params, seed=args.first_seed,
                           on_run=tick).summary()
            times = np.diff(stamps).tolist()
            rec = {"set": name, "m": m, "n": int(ds.X.shape[0]), "d": int(ds.X.shape[1]),
                   "seeds": list(range(args.first_seed, args.first_seed + args.runs)),
                   "ocsdf": res["auroc"]["ocsdf"]["runs"], "iforest": res["auroc"]["iforest"]["runs"],
                   "certified": {e: v["runs"] for e, v in res["certified_auroc_ocsdf"].items()},
                   "seconds_per_run": times, "cpu_seconds_per_run": np.diff(cpu).tolist(),
                   "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}}
            records.append(rec)
            meta = {"torch": torch.__version__, "python": sys.version.split()[0], "threads": args.threads}
            out.write_text(json.dumps({"meta": meta, "records": records}, indent=1))
            print(f"{name} m={m:g}: OCSDF {np.mean(rec['ocsdf']):.3f} ± {np.std(rec['ocsdf']):.3f}, IF "
                  f"{np.mean(rec['iforest']):.3f} ({np.mean(times):.0f} s/run)", flush=True)


def variant(params: dict) -> str:
    """How a run's parameters differ from the `paper` preset (margin aside); '' for the preset itself."""
    ref = {k: (list(v) if isinstance(v, tuple) else v) for k, v in preset_params("paper").items()}
    diff = {k: v for k, v in params.items() if k != "margin" and ref.get(k) != v}
    return ", ".join(f"{k}={v}" for k, v in sorted(diff.items()))


def merged(which: str = "") -> dict[tuple[str, float], dict]:
    """Every record of the result files with parameters `which` (see `variant`), runs pooled by seed."""
    pool: dict[tuple[str, float], dict] = {}
    for path in sorted(RESULTS.glob("oneclass_paper_*.json")):
        if path.name == "oneclass_paper_summary.json" or path.name.startswith("oneclass_paper_hist"):
            continue
        for rec in json.loads(path.read_text())["records"]:
            if variant(rec["params"]) != which:
                continue
            key = (rec["set"], rec["m"])
            entry = pool.setdefault(key, {"ocsdf": {}, "iforest": {}, "seconds": [], "certified": {}, **{
                k: rec[k] for k in ("n", "d")}, "params": rec["params"]})
            for i, seed in enumerate(rec["seeds"]):
                entry["ocsdf"][seed] = rec["ocsdf"][i]
                entry["iforest"][seed] = rec["iforest"][i]
                for e, v in rec["certified"].items():
                    entry["certified"].setdefault(e, {})[seed] = v[i]
            entry["seconds"] += rec["seconds_per_run"]
            entry.setdefault("cpu", []).extend(rec.get("cpu_seconds_per_run", []))
    return pool


def report(fixed_m: float) -> None:
    pool = merged()
    sets = [s for s in SETS if any(k[0] == s for k in pool)]
    margins = sorted({k[1] for k in pool})

    def ms(values: list[float]) -> str:
        return f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f}"

    rows, summary, hits, within = [], {}, 0, 0
    for s in sets:
        per_m = {m: list(pool[(s, m)]["ocsdf"].values()) for m in margins if (s, m) in pool}
        best = max(per_m, key=lambda m: np.mean(per_m[m]))
        iforest = [v for m in per_m for v in pool[(s, m)]["iforest"].values()]
        entry = pool[(s, best)]
        fixed = per_m.get(fixed_m)
        gap = 100 * np.mean(per_m[best]) - PAPER[s][0]
        hits += gap >= -2
        within += abs(gap) <= 2
        sec = np.mean([v for m in per_m for v in pool[(s, m)]["seconds"]])
        cpu = [v for m in per_m for v in pool[(s, m)].get("cpu", [])]
        cert = {e: float(np.mean(list(v.values()))) for e, v in entry["certified"].items()}
        summary[s] = {"best_m": best, "best": float(np.mean(per_m[best])), "runs_best": len(per_m[best]),
                      "fixed_m": fixed_m, "fixed": None if fixed is None else float(np.mean(fixed)),
                      "per_m": {f"{m:g}": {"mean": float(np.mean(v)), "std": float(np.std(v)), "runs": len(v)}
                                for m, v in per_m.items()},
                      "iforest": float(np.mean(iforest)), "paper": PAPER[s], "seconds_per_run": float(sec),
                      "certified_best_m": cert}
        sweep = " / ".join(f"{100 * np.mean(per_m[m]):.1f} ({len(per_m[m])})" if m in per_m else "–"
                           for m in margins)
        rows.append(f"| {s} | {entry['n']}×{entry['d']} | {PAPER[s][0]:.1f} ± {PAPER[s][1]:.1f} | {PAPER[s][2]:.1f} "
                    f"| {ms(iforest)} | {ms(per_m[best])} (m={best:g}, {len(per_m[best])} runs) | "
                    f"{ms(fixed) + f' ({len(fixed)} runs)' if fixed else '–'} | {sweep} | {gap:+.1f} | "
                    f"{100 * cert.get('0.1', float('nan')):.1f} | {sec:.0f} | "
                    f"{f'{np.mean(cpu):.0f}' if cpu else '–'} |")
    params = next(iter(pool.values()))["params"]
    lines = [
        "# OCSDF at the paper's settings: ODDS, AD protocol (paper Table 2)",
        "",
        "AUROC in %, mean ± std over runs (seeds 0, 1, …); AD protocol: train on every row, labels unseen, "
        "score every row; features z-scored. OCSDF: the `paper` preset "
        f"(`{json.dumps({k: v for k, v in params.items() if k != 'margin'})}`). Isolation Forest: "
        "scikit-learn defaults on the same rows (pooled over all runs). **best m**: the paper's rule, the "
        "m of the grid with the best average AUROC over the runs — it looks at the labels, so it is an "
        f"oracle; **fixed m = {fixed_m:g}**: chosen before looking. m sweep: mean AUROC (runs) for m = "
        + ", ".join(f"{m:g}" for m in margins) + ". gap: best-m mean − paper. cert.: certified AUROC at "
        "ε = 0.1 (z-scored units) at the best m. s/run: wall seconds of one OCSDF fit + scoring, "
        "1 torch thread on the shared 2-core machine (load 6–13 from other jobs: very pessimistic); CPU s/run: "
        "the process's CPU time for the same (what one run costs an idle core), where recorded.",
        "",
        "| set | n×d | paper OCSDF | paper IF | IF (ours) | OCSDF best m (paper's rule) | OCSDF fixed m | "
        "m sweep | gap | cert. ε=0.1 | s/run | CPU s/run |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Best-m AUROC within ±2 points of the paper's: {within} of {len(sets)} sets; no more than 2 points "
        f"below it (above counts): {hits} of {len(sets)}.",
        *variants_section(),
    ]
    (RESULTS / "oneclass_paper.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "oneclass_paper_summary.json").write_text(json.dumps(summary, indent=1))
    print("\n".join(lines))


def variants_section() -> list[str]:
    """Runs with parameters other than the preset's: one row per (variant, set, m)."""
    names = set()
    for path in sorted(RESULTS.glob("oneclass_paper_*.json")):
        if path.name == "oneclass_paper_summary.json" or path.name.startswith("oneclass_paper_hist"):
            continue
        names |= {variant(r["params"]) for r in json.loads(path.read_text())["records"]}
    rows = []
    for name in sorted(n for n in names if n):
        for (s, m), e in sorted(merged(name).items()):
            v = list(e["ocsdf"].values())
            rows.append(f"| {name} | {s} | {m:g} | {100 * np.mean(v):.1f} ± {100 * np.std(v):.1f} | {len(v)} | "
                        f"{PAPER[s][0]:.1f} | {np.mean(e['seconds']):.0f} |")
    if not rows:
        return []
    return ["", "## Variants (parameters changed from the preset)", "",
            "| change | set | m | OCSDF AUROC | runs | paper | s/run |", "|---|---|---|---|---|---|---|", *rows]


def histogram(data: Path, name: str, margin: float, overrides: dict) -> None:
    """F on the normal rows, the anomalies, uniform negatives of B and Newton negatives (paper Fig. 7)."""
    from levelrecon.classify.ocsdf import OCSDFClassifier
    from levelrecon.classify.plots import plot_score_histograms

    ds = load_dataset(data / "odds" / f"{name}.mat")
    clf = OCSDFClassifier(**{**preset_params("paper"), **overrides, "margin": margin}).fit(ds.X)
    suffix = "".join(f"_{k}{v}" for k, v in sorted(overrides.items()))
    out = RESULTS / f"oneclass_paper_hist_{name}{suffix}.png"
    stats: dict = plot_score_histograms(clf, ds.X, ds.y, out, title=f"{name}, paper preset, m = {margin:g}"
                                        + (f" ({variant(clf.get_params())})" if overrides else ""))
    # An SDF has |∇F| = 1; an orthogonal 512-wide first layer on d inputs starts near sqrt(d / 512).
    from levelrecon.models.levelset import value_and_jacobian

    z = torch.as_tensor((ds.X - clf.mean_) / clf.scale_, dtype=torch.float32)
    _, jac = value_and_jacobian(clf.model_, z)
    stats["grad_norm_on_data"] = {"median": float(jac.norm(dim=-1).median()),
                                  "sqrt(d/width)": float(np.sqrt(ds.X.shape[1] / clf.width))}
    stats["n_steps"] = clf.n_steps_
    out.with_suffix(".json").write_text(json.dumps(stats, indent=1))
    print(json.dumps(stats, indent=1))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
