"""Many clouds, one table: fit → mesh → eval per cloud, in local worker processes or as Ray tasks.

Every cloud gets its own run directory under the batch's output folder, so parallel jobs never share a
"latest run". One bad cloud never stops the batch: its row says `failed` with the one-line error. A cloud
whose run directory already holds a finished result is skipped when the batch runs again (resume).
"""

from __future__ import annotations

import csv
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from levelrecon.errors import InputError, printable
from levelrecon.files import atomic_output
from levelrecon.recon.data.io import LOADERS

TABLES = ("results.csv", "results.json", "report.html")  # the batch's own files in OUT
RESULT = "result.json"  # per-cloud result, written last: its presence marks the cloud as done
COLUMNS = ["name", "cloud", "gt", "status", "method", "n_points", "steps", "fit_s", "mesh_s", "eval_s",
           "chamfer_l1_rel", "hausdorff_rel", "fscore", "distance", "run_dir", "mesh", "error"]


@dataclass(frozen=True)
class BatchOptions:
    """What every cloud of the batch is run with (the options of the single commands)."""

    method: str = "auto"  # auto: per cloud, by its size (recon.methods.auto_method)
    preset: str = "cpu"
    overrides: dict[str, Any] = field(default_factory=dict)
    resolution: int | None = None
    samples: int = 30000
    render: bool = True
    seed: int = 0


def options_key(opts: BatchOptions) -> dict[str, Any]:
    """What a cloud's result depends on, as stored in its result.json: a re-run with other options re-runs
    the cloud instead of reusing a result made with different settings."""
    key = {"method": opts.method, "preset": opts.preset, "overrides": opts.overrides, "resolution": opts.resolution,
           "samples": opts.samples, "seed": opts.seed}
    return json.loads(json.dumps(key, sort_keys=True, default=str))


@dataclass(frozen=True)
class BatchTask:
    name: str
    cloud: str
    gt: str | None
    run_dir: str


def read_manifest(path: Path) -> list[tuple[Path, Path | None]]:
    """CSV with a `cloud` column and an optional `gt` column (paths relative to the manifest)."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read the manifest ({exc})") from None
    if not rows or "cloud" not in rows[0]:
        raise InputError(f"{path}: a manifest needs a header with a 'cloud' column (and optionally 'gt')")
    base = path.parent

    def resolve(value: str) -> Path:
        p = Path(value.strip())
        return p if p.is_absolute() else base / p

    return [(resolve(r["cloud"]), resolve(r["gt"]) if (r.get("gt") or "").strip() else None) for r in rows]


def collect(inputs: Sequence[Path], manifest: Path | None = None) -> list[tuple[Path, Path | None]]:
    """(cloud, ground truth) pairs from files, directories (their cloud files) and a manifest."""
    pairs: list[tuple[Path, Path | None]] = []
    for path in inputs:
        if path.is_dir():
            pairs += [(p, None) for p in sorted(path.iterdir()) if p.is_file() and p.suffix.lower() in LOADERS]
        else:
            pairs.append((path, None))
    if manifest is not None:
        pairs += read_manifest(manifest)
    if not pairs:
        raise InputError("batch: no clouds given (files, directories or --manifest)")
    return pairs


def plan(pairs: Sequence[tuple[Path, Path | None]], out_dir: Path) -> list[BatchTask]:
    """One task per cloud, with a unique run directory name (stem, then stem_2, ...) that is one plain folder
    inside `out_dir` whatever the cloud is called."""
    from levelrecon.recon.runs import safe_name

    tasks, used = [], set()
    for cloud, gt in pairs:
        stem = safe_name(cloud.stem)
        if stem in TABLES:  # a cloud named results.csv.xyz must not take the table's file name
            stem += "_cloud"
        name, k = stem, 1
        while name in used:
            k += 1
            name = f"{stem}_{k}"
        used.add(name)
        tasks.append(BatchTask(name, str(cloud), None if gt is None else str(gt), str(out_dir / name)))
    return tasks


def run_task(task: BatchTask, opts: BatchOptions) -> dict[str, Any]:
    """fit → mesh → eval of one cloud; never raises: errors become a `failed` row with their message."""
    from levelrecon import api
    from levelrecon.recon import runs
    from levelrecon.recon.data.io import write_mesh
    from levelrecon.recon.evaluation import evaluate

    run_dir = Path(task.run_dir)
    # the table holds printable names (U+FFFD for the bytes of a non-UTF-8 file name): CSV is UTF-8
    row: dict[str, Any] = {"name": task.name, "cloud": printable(task.cloud),
                           "gt": None if task.gt is None else printable(task.gt), "method": opts.method,
                           "run_dir": task.run_dir, "status": "failed", "options": options_key(opts)}
    try:
        t0 = time.perf_counter()
        model = api.fit(task.cloud, method=opts.method, preset=opts.preset, run_dir=run_dir, force=True,
                        **{"seed": opts.seed, **opts.overrides})
        fit = model.result
        row["method"] = fit.method
        t1 = time.perf_counter()
        mesh = model.mesh(opts.resolution)
        mesh_path = write_mesh(mesh, run_dir / runs.MESH, force=True)
        runs.write_run_info(run_dir, {**runs.read_run_info(run_dir), "mesh": str(mesh_path.resolve())})
        t2 = time.perf_counter()
        metrics = evaluate(run_dir, Path(task.gt) if task.gt else None, n_samples=opts.samples)
        t3 = time.perf_counter()
        row.update(status="done", n_points=fit.n_points, steps=fit.steps, fit_s=round(t1 - t0, 2),
                   mesh_s=round(t2 - t1, 2), eval_s=round(t3 - t2, 2), mesh=str(mesh_path),
                   chamfer_l1_rel=metrics["chamfer_l1_rel"], hausdorff_rel=metrics["hausdorff_rel"],
                   fscore=metrics["fscore"], distance=metrics.get("distance"), error="")
        if opts.render:
            _thumbnail(mesh, run_dir / "thumbnail.png", task.name)
    except Exception as exc:  # one bad cloud must not stop the batch
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        row["error"] = printable(first if isinstance(exc, InputError) else f"{type(exc).__name__}: {first}")
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(run_dir / RESULT, force=True) as tmp:
        Path(tmp).write_text(json.dumps(row, indent=2))
    return row


def _thumbnail(mesh: Any, path: Path, title: str) -> None:
    import numpy as np

    from levelrecon.viz.render import render_mesh

    render_mesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), path, title)


def stored(task: BatchTask) -> dict[str, Any] | None:
    """The row a previous batch stored for this cloud, if any."""
    path = Path(task.run_dir) / RESULT
    try:
        row = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return row if isinstance(row, dict) else None


def finished(task: BatchTask, opts: BatchOptions) -> dict[str, Any] | None:
    """The stored row of a cloud already done with these options (resume), else None."""
    row = stored(task)
    if row is None or row.get("status") != "done" or row.get("options") != options_key(opts):
        return None
    return row


class ResultsTable:
    """The batch's results.csv and results.json, rewritten (atomically) after every cloud, so an
    interrupted batch still leaves a table of what it finished."""

    def __init__(self, tasks: Sequence[BatchTask], out_dir: Path, rows: dict[str, dict[str, Any]]) -> None:
        self.tasks, self.out_dir, self.rows = list(tasks), out_dir, dict(rows)

    def add(self, row: dict[str, Any]) -> None:
        self.rows[row["name"]] = row
        self.write()

    def ordered(self) -> list[dict[str, Any]]:
        return [self.rows[t.name] for t in self.tasks if t.name in self.rows]

    def write(self) -> tuple[Path, Path]:
        return write_tables(self.ordered(), self.out_dir)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_local(tasks: Sequence[BatchTask], opts: BatchOptions, jobs: int,
              on_done: Callable[[dict[str, Any]], None] = lambda row: None) -> list[dict[str, Any]]:
    """Run tasks in `jobs` worker processes, each with a fair share of the cores (1 job: in process)."""
    if jobs <= 1:
        rows = []
        for task in tasks:
            rows.append(run_task(task, opts))
            on_done(rows[-1])
        return rows
    threads = max(1, (os.cpu_count() or 1) // jobs)
    rows_by_name: dict[str, dict[str, Any]] = {}
    # spawn, not fork: forking a process whose OpenMP/torch threads are running can deadlock the child
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                             initargs=(threads,)) as pool:
        futures = {pool.submit(run_task, task, opts): task for task in tasks}
        for fut in as_completed(futures):
            row = fut.result()
            rows_by_name[row["name"]] = row
            on_done(row)
    return [rows_by_name[t.name] for t in tasks]


def run_ray(tasks: Sequence[BatchTask], opts: BatchOptions, address: str | None, num_cpus: float,
            num_gpus: float, on_done: Callable[[dict[str, Any]], None] = lambda row: None) -> list[dict[str, Any]]:
    """One Ray task per cloud, on the cluster at `address` (or RAY_ADDRESS), else a local Ray instance."""
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'levelrecon[ray]'") from None
    started = False
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS") or None, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.ERROR)
        started = True
    try:
        remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus)(_ray_task)
        pending = {remote.remote(task, opts, max(1, int(num_cpus))): task for task in tasks}
        rows_by_name: dict[str, dict[str, Any]] = {}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(done[0])
            row = ray.get(done[0])
            rows_by_name[task.name] = row
            on_done(row)
        return [rows_by_name[t.name] for t in tasks]
    finally:
        if started:
            ray.shutdown()


def _ray_task(task: BatchTask, opts: BatchOptions, threads: int) -> dict[str, Any]:
    _init_worker(threads)
    return run_task(task, opts)


def write_tables(rows: Sequence[dict[str, Any]], out_dir: Path) -> tuple[Path, Path]:
    """results.csv and results.json of the batch (atomic writes)."""
    csv_path, json_path = out_dir / "results.csv", out_dir / "results.json"
    with atomic_output(csv_path, force=True) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    with atomic_output(json_path, force=True) as tmp:
        Path(tmp).write_text(json.dumps({"rows": list(rows)}, indent=2))
    return csv_path, json_path


def write_report(rows: Sequence[dict[str, Any]], out_dir: Path, opts: BatchOptions) -> Path:
    """report.html: one card per cloud, its thumbnail beside its numbers."""
    import html

    cards = []
    for row in rows:
        thumb = Path(row["run_dir"]) / "thumbnail.png"
        img = (f'<img src="{html.escape(os.path.relpath(thumb, out_dir))}" alt="{html.escape(row["name"])}">'
               if thumb.is_file() else '<div class="none">no render</div>')
        if row.get("status") == "done":
            facts = (f"Chamfer-L1 {row['chamfer_l1_rel']:.5f} × diag, Hausdorff {row['hausdorff_rel']:.4f} × diag, "
                     f"F-score {row['fscore']:.3f} ({html.escape(str(row.get('distance')))}, vs "
                     f"{html.escape(row['gt'] or 'input cloud')})<br>{row['n_points']:,} points, fit "
                     f"{row['fit_s']:.1f} s, mesh {row['mesh_s']:.1f} s")
        else:
            facts = f'<span class="err">failed: {html.escape(str(row.get("error")))}</span>'
        cards.append(f'<div class="card">{img}<h3>{html.escape(row["name"])}</h3><p>{facts}</p></div>')
    failed = sum(r.get("status") != "done" for r in rows)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>levelrecon batch</title><style>
body{{font-family:sans-serif;margin:2em}} .card{{display:inline-block;width:320px;vertical-align:top;margin:8px;
border:1px solid #ccc;padding:8px}} .card img{{width:300px}} .err{{color:#b00}} .none{{height:100px}}
</style></head><body><h1>levelrecon batch</h1>
<p>{len(rows)} clouds, {failed} failed; method {html.escape(opts.method)}, preset {html.escape(opts.preset)}
{html.escape(json.dumps(opts.overrides)) if opts.overrides else ''}</p>
{''.join(cards)}</body></html>
"""
    path = out_dir / "report.html"
    with atomic_output(path, force=True) as tmp:
        Path(tmp).write_text(page)
    return path
