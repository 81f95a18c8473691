"""Merge the reconstruction benchmark JSON files into one method-comparison table (markdown).

    python benchmarks/report.py            # reads benchmarks/results/*.json, writes results/summary.md
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TAGS = {"recon": "", "methods": "", "methods2": "", "ocsdf_rest": "", "ocsdf_fandisk": "",
        "igr_normals": "+normals"}


def main() -> None:
    rows: dict[tuple[str, int], dict[str, dict]] = {}
    floors: dict[str, float] = {}
    for tag, suffix in TAGS.items():
        path = RESULTS / f"{tag}.json"
        if not path.exists():
            continue
        for r in json.loads(path.read_text())["rows"]:
            rows.setdefault((r["shape"], r["points"]), {})[r["method"] + suffix] = r
            floors[r["shape"]] = r["floor_rel"]
    methods = [m for m in ("sal", "igr", "igr+normals", "levelset", "ocsdf", "poisson")
               if any(m in v for v in rows.values())]
    out = ["Chamfer-L1 ÷ diagonal (30,000 samples per surface; floor = two sample sets of the true surface), "
           "Hausdorff ÷ diagonal in brackets; best neural value in bold; – = not run.", "",
           "| shape | points | floor | " + " | ".join(methods) + " | best neural / poisson |",
           "|" + "---|" * (len(methods) + 4)]
    for (shape, n) in sorted(rows, key=lambda k: (k[0], -k[1])):
        got = rows[(shape, n)]
        neural = {m: got[m]["chamfer_l1_rel"] for m in methods if m in got and m != "poisson"}
        best = min(neural, key=neural.get) if neural else None
        cells = [shape, f"{n:,}", f"{floors[shape]:.5f}"]
        for m in methods:
            if m not in got:
                cells.append("–")
                continue
            v = f"{got[m]['chamfer_l1_rel']:.5f} ({got[m]['hausdorff_rel']:.3f})"
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
            f"{got[m]['fit_s'] + got[m]['mesh_s']:.0f}" if m in got else "–" for m in methods]) + " |")
    (RESULTS / "summary.md").write_text("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
