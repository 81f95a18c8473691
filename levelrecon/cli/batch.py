"""`levelrecon batch`: fit → mesh → eval for many clouds, one table, local workers or a Ray cluster."""

from __future__ import annotations

from pathlib import Path

import click

from levelrecon.cli import console
from levelrecon.cli.options import quiet_option, training_options, training_overrides


@click.command(epilog="""\b
Examples:
  levelrecon batch scans/*.ply -o out/               # every cloud, one run directory each, out/results.csv
  levelrecon batch scans/ --jobs 2 -o out/           # two worker processes, one core each
  levelrecon batch --manifest clouds.csv -o out/     # CSV columns: cloud, gt (ground-truth mesh, optional)
  levelrecon batch scans/ -o out/ --method sal --iters 800 --set sigma_global=0.5
  levelrecon batch scans/ -o out/ --ray              # Ray tasks on a local instance
  levelrecon batch scans/ -o out/ --ray --ray-address ray://head:10001 --num-cpus 4
""")
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Output folder: one run directory per cloud, results.csv/json, report.html.")
@click.option("--manifest", type=click.Path(path_type=Path), help="CSV with a 'cloud' and an optional 'gt' column.")
@training_options
@click.option("--resolution", type=click.IntRange(8, 2048), help="Mesh resolution [default: as `mesh`].")
@click.option("--samples", type=click.IntRange(100), default=30000, show_default=True,
              help="Surface samples per mesh for the metrics.")
@click.option("--jobs", type=click.IntRange(1), default=1, show_default=True,
              help="Local worker processes (each gets cores / jobs threads).")
@click.option("--ray", "use_ray", is_flag=True, help="Run one Ray task per cloud (pip install 'levelrecon[ray]').")
@click.option("--ray-address", help="Address of an existing Ray cluster [default: RAY_ADDRESS, else a local one].")
@click.option("--num-cpus", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
              help="CPUs per Ray task.")
@click.option("--num-gpus", type=click.FloatRange(0), default=0.0, show_default=True, help="GPUs per Ray task.")
@click.option("--no-render", is_flag=True, help="Skip the thumbnail renders of the HTML report.")
@quiet_option
def batch(inputs: tuple[Path, ...], out_dir: Path, manifest: Path | None, method: str, preset: str,
          field: str | None, iters: int | None, batch: int | None, lr: float | None, width: int | None,
          depth: int | None, seed: int | None, extra: tuple[str, ...], resolution: int | None,
          samples: int, jobs: int, use_ray: bool, ray_address: str | None, num_cpus: float, num_gpus: float,
          no_render: bool, quiet: bool) -> None:
    """Reconstruct every cloud of INPUTS (files, directories, globs) and/or a --manifest.

    Each cloud gets OUTPUT/<name>/ (a run directory with model, mesh and result.json). Clouds already
    done are skipped when the batch runs again; one failing cloud never stops the others. The table
    goes to OUTPUT/results.csv and results.json, with report.html beside it. Exit code 1 when any cloud
    failed, 0 otherwise.
    """
    from levelrecon.recon.methods.registry import check_options
    from levelrecon.workflows import batch as bt

    overrides = training_overrides(field, iters, batch, lr, width, depth, None, extra)
    check_options(method, preset, {"seed": seed, **overrides})  # before any cloud: one line, exit 2
    opts = bt.BatchOptions(method=method, preset=preset, overrides=overrides, resolution=resolution,
                           samples=samples, render=not no_render, seed=seed or 0)
    tasks = bt.plan(bt.collect(inputs, manifest), out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = {t.name: row for t in tasks if (row := bt.finished(t, opts)) is not None}
    todo = [t for t in tasks if t.name not in done]
    changed = sum(1 for t in todo if (row := bt.stored(t)) is not None and row.get("status") == "done")
    if done and not quiet:
        console.err.print(f"batch: {len(done)} of {len(tasks)} clouds already done (skipped)")
    if changed and not quiet:
        console.err.print(f"batch: {changed} cloud(s) done before with other options: run again")
    table = bt.ResultsTable(tasks, out_dir, done)
    with console.ProgressReporter("batch", max(1, len(todo)), quiet=quiet) as bar:
        count = {"n": 0}

        def on_done(row: dict) -> None:
            table.add(row)
            count["n"] += 1
            bar(count["n"], len(todo), {})
            if row["status"] != "done" and not quiet:
                error = row["error"]
                console.warn(error if error.startswith(row["cloud"]) else f"{row['cloud']}: {error}")

        if use_ray:
            bt.run_ray(todo, opts, ray_address, num_cpus, num_gpus, on_done)
        else:
            bt.run_local(todo, opts, jobs, on_done)
    rows = table.ordered()
    csv_path, _ = table.write()
    report = bt.write_report(rows, out_dir, opts)
    if not quiet:
        _print_table(rows)
        console.err.print(f"-> {csv_path}, results.json, {report}")
    if any(r["status"] != "done" for r in rows):
        raise SystemExit(1)


def _print_table(rows: list[dict]) -> None:
    from rich.table import Table

    table = Table(title="levelrecon batch")
    for col in ("cloud", "status", "points", "CD-L1/diag", "Hausdorff/diag", "F-score", "fit s", "mesh s"):
        table.add_column(col, no_wrap=True)
    for r in rows:
        ok = r["status"] == "done"
        table.add_row(r["name"], r["status"], f"{r.get('n_points', 0):,}" if ok else "",
                      f"{r['chamfer_l1_rel']:.5f}" if ok else "", f"{r['hausdorff_rel']:.4f}" if ok else "",
                      f"{r['fscore']:.3f}" if ok else "", f"{r['fit_s']:.1f}" if ok else "",
                      f"{r['mesh_s']:.1f}" if ok else "")
    console.out.print(table)
    for r in rows:
        if r["status"] != "done":
            console.out.print(f"{r['name']}: {r['error']}", markup=False)
