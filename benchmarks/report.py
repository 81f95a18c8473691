"""Merge the reconstruction benchmark JSON files into one method-comparison table (markdown).

    python benchmarks/report.py            # reads benchmarks/results/*.json, writes results/summary.md
"""

from __future__ import annotations

import json
from pathlib import Path

from bench_recon import poisson_variant

RESULTS = Path(__file__).resolve().parent / "results"
TAGS = {"recon": "", "methods": "", "methods2": "", "methods3": "", "ocsdf_rest": "", "ocsdf_fandisk": "",
        "igr_normals": "+normals"}
LONG = "long"  # the same flow with more training steps (`--fit-args "--iters 4000"`), reported on its own


def cell(r: dict) -> str:
    variant = f" {r['method']}" if poisson_variant(r["method"]) is not None and r["method"] != "poisson" else ""
    return f"{r['chamfer_l1_rel']:.5f} ({r['hausdorff_rel']:.3f}){variant}"


def seconds(r: dict) -> str:
    return f"{r['fit_s'] + r['mesh_s']:.0f}"


def longer_budget(rows: dict[tuple[str, int], dict[str, dict]]) -> list[str]:
    """The long-budget rows beside the default-budget ones of the same shape, size and method."""
    path = RESULTS / f"{LONG}.json"
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    out = ["", f"Longer budget: `{data.get('fit_args', '')}` instead of each method's default (Chamfer-L1 ÷ diagonal, "
           "Hausdorff ÷ diagonal; whole-process seconds of fit + mesh):", "",
           "| shape | points | method | default budget | s | longer budget | s |", "|---|---|---|---|---|---|---|"]
    for r in sorted(data["rows"], key=lambda r: (r["shape"], -r["points"], r["method"])):
        base = rows.get((r["shape"], r["points"]), {}).get(r["method"])
        cells = [r["shape"], f"{r['points']:,}", r["method"],
                 cell(base) if base else "–", seconds(base) if base else "–", cell(r), seconds(r)]
        out.append("| " + " | ".join(cells) + " |")
    return out


def main() -> None:
    rows: dict[tuple[str, int], dict[str, dict]] = {}
    floors: dict[str, float] = {}
    for tag, suffix in TAGS.items():
        path = RESULTS / f"{tag}.json"
        if not path.exists():
            continue
        for r in json.loads(path.read_text())["rows"]:
            if r.get("condition", "clean") != "clean":  # other input conditions: in each tag's own .md
                continue
            got = rows.setdefault((r["shape"], r["points"]), {})
            if poisson_variant(r["method"]) is not None:  # the poisson column: the best variant run
                if "poisson" not in got or r["chamfer_l1_rel"] < got["poisson"]["chamfer_l1_rel"]:
                    got["poisson"] = r
                continue
            got[r["method"] + suffix] = r
            if "floor_rel" in r:  # only files from before the point-to-surface metric have a floor
                floors[r["shape"]] = r["floor_rel"]
    methods = [m for m in ("sal", "igr", "igr+normals", "levelset", "ocsdf", "poisson")
               if any(m in v for v in rows.values())]
    out = ["Chamfer-L1 ÷ diagonal (30,000 samples per surface; floor = two sample sets of the true surface, "
           "given by result files of the sample-to-sample metric only, – for point-to-surface files whose floor "
           "is 0), Hausdorff ÷ diagonal in brackets; best neural value in bold; – = not run; clean inputs only "
           "(the other conditions of bench_recon.py are in their own .md); poisson = the best of the Poisson "
           "variants run (named when not plain depth-8 `poisson`).", "",
           "| shape | points | floor | " + " | ".join(methods) + " | best neural / poisson |",
           "|" + "---|" * (len(methods) + 4)]
    for (shape, n) in sorted(rows, key=lambda k: (k[0], -k[1])):
        got = rows[(shape, n)]
        neural = {m: got[m]["chamfer_l1_rel"] for m in methods if m in got and m != "poisson"}
        best = min(neural, key=neural.get) if neural else None
        cells = [shape, f"{n:,}", f"{floors[shape]:.5f}" if shape in floors else "–"]
        for m in methods:
            if m not in got:
                cells.append("–")
                continue
            v = cell(got[m])
            cells.append(f"**{v}**" if m == best else v)
        ratio = (f"{neural[best] / got['poisson']['chamfer_l1_rel']:.2f} ({best})"
                 if best and "poisson" in got else "–")
        out.append("| " + " | ".join(cells + [ratio]) + " |")
    out += ["", "Whole-process wall seconds of `fit` + `mesh` (runs were concurrent on 2 cores, so these are "
            "upper bounds; see the quiet-machine timing in the README):", "",
            "| shape | points | " + " | ".join(methods) + " |", "|" + "---|" * (len(methods) + 2)]
    for (shape, n) in sorted(rows, key=lambda k: (k[0], -k[1])):
        got = rows[(shape, n)]
        out.append("| " + " | ".join([shape, f"{n:,}"] + [
            seconds(got[m]) if m in got else "–" for m in methods]) + " |")
    out += longer_budget(rows)
    (RESULTS / "summary.md").write_text("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
