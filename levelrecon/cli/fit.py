"""`levelrecon fit`: train a level-set network (or run the Poisson baseline) on a cloud."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from levelrecon.cli import console
from levelrecon.cli.options import (
    device_option,
    force_option,
    quiet_option,
    training_options,
    training_overrides,
    write_json,
)
from levelrecon.cli.signals import STOP
from levelrecon.errors import printable
from levelrecon.progress import ProgressReporter
from levelrecon.recon import runs

if TYPE_CHECKING:
    from levelrecon.recon.fit import FitResult


@click.command(epilog="""\b
Examples:
  levelrecon fit cloud.ply                       # auto: IGR on a feature grid (levelset if sparse)
  levelrecon fit cloud.ply --method sal          # Sign Agnostic Learning (no normals needed)
  levelrecon fit cloud.ply --method sal --field grid   # any neural method on the feature-grid field
  levelrecon fit cloud.ply --preset mlp          # the earlier 4×256 MLP defaults
  levelrecon fit scan.xyz --method poisson       # classical baseline into the same flow
  levelrecon fit cloud.ply --preset paper --device cuda -o runs/paper
  levelrecon fit bunny.obj --surface-samples 20000 --iters 3000 --seed 1
  levelrecon fit cloud.ply --method sal --set sigma_global=0.5 --json -
  levelrecon fit curve.xyz --curve                  # 3-D curve: levelset with two outputs
  levelrecon fit scans/ --voxel 0.002 --outliers statistical   # every cloud file of a folder, merged
  levelrecon fit --resume runs/scan_igr_1        # continue a run that was interrupted or killed
""")
@click.argument("clouds", nargs=-1, type=click.Path(path_type=Path))
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), metavar="RUN_DIR",
              help="Continue an interrupted or killed run from its last checkpoint (no CLOUDS; same result as "
                   "an uninterrupted run on CPU).")
@click.option("-o", "--output", "run_dir", type=click.Path(path_type=Path),
              help="Run directory [default: runs/<cloud>_<method>_<k>].")
@training_options
@click.option("--curve", is_flag=True,
              help="The cloud samples a 3-D curve: a two-output levelset network, meshed as a polyline "
                   "(implies --method levelset).")
@click.option("--surface-samples", type=click.IntRange(10),
              help="For a mesh input: fit N area-uniform surface samples instead of the vertices.")
@click.option("--voxel", type=click.FloatRange(0, min_open=True), metavar="SIZE",
              help="Downsample to one point per voxel of this side (input units).")
@click.option("--outliers", type=click.Choice(["auto", "off-surface", "statistical", "none"]), default="auto",
              show_default=True,
              help="Drop outliers before fitting: off-surface = points 10× farther from the plane of their 16 "
                   "neighbours than the cloud's median (stray returns); statistical = Open3D's 2-sigma rule "
                   "(also thins thin parts); auto = off-surface, plus statistical when over 0.5 % of the points "
                   "were off the surface, for the neural methods; none for Poisson.")
@click.option("--keep-far", is_flag=True,
              help="Keep points far outside the robust extent of the cloud (dropped with a warning by default).")
@device_option
@force_option
@quiet_option
@click.option("--json", "json_out", metavar="FILE", help="Write a JSON summary ('-' for stdout).")
def fit(clouds: tuple[Path, ...], resume_dir: Path | None, method: str, run_dir: Path | None, preset: str,
        field: str | None, iters: int | None,
        batch: int | None, lr: float | None, width: int | None, depth: int | None, seed: int | None,
        extra: tuple[str, ...], curve: bool, surface_samples: int | None, voxel: float | None,
        outliers: str, keep_far: bool, device: str, force: bool, quiet: bool, json_out: str | None) -> None:
    """Train a level-set network on the point cloud(s) CLOUDS and write a run directory.

    CLOUDS is a PLY, OBJ, OFF, STL, GLB, XYZ/TXT/PTS, NPY or NPZ file (normals are used when present), or
    several files or directories of them, merged into one cloud (merged range scans). Points far outside
    the robust extent of the cloud (stray returns that would set the normalization) are dropped with a
    warning.
    The run directory gets model.pt (method, config, normalization, weights), train_log.csv, loss.png
    and run.json. Ctrl-C or SIGTERM stops after the current step and keeps a valid checkpoint.
    """
    STOP.install()  # first: a signal during the slow imports below stops the fit at its first step
    click.get_current_context().call_on_close(STOP.restore)
    from levelrecon import api
    from levelrecon.errors import InputError
    from levelrecon.files import check_output
    from levelrecon.recon.fit import resume_fit

    if json_out and json_out != "-":
        check_output(json_out, force)  # before training, not after it
    if resume_dir is not None:
        if clouds:
            raise InputError(f"{resume_dir}: --resume continues a run with its own input; give no CLOUDS")

        def resume(bar: ProgressReporter, stop: Callable[[], bool]) -> FitResult:
            return resume_fit(resume_dir, device=device, should_stop=stop, runs_root=Path(runs.RUNS_ROOT),
                              on_step=lambda step, total, logs: bar(step, total, {"loss": logs["loss"]}))

        _run_with_signals(resume, "fit (resumed)", None, quiet, json_out, force)
        return
    if not clouds:
        raise InputError("fit: give a CLOUD file (or several, or a directory), or --resume RUN_DIR")
    if curve and click.get_current_context().get_parameter_source("method").name != "DEFAULT" \
            and method != "levelset":
        raise InputError(f"--curve needs --method levelset, not {method}")
    options = training_overrides(field, iters, batch, lr, width, depth, seed, extra)

    def job(bar: ProgressReporter, stop: Callable[[], bool]) -> FitResult:
        model = api.fit(list(clouds), method=method, preset=preset, run_dir=run_dir, force=force, device=device,
                        voxel=voxel, outliers=outliers, keep_far=keep_far, surface_samples=surface_samples,
                        curve=curve, runs_root=runs.RUNS_ROOT, should_stop=stop, **options,
                        on_step=lambda step, total, logs: bar(step, total, {"loss": logs["loss"]}),
                        on_start=lambda resolved, n: bar.relabel(f"fit {resolved}"))
        return model.result

    _run_with_signals(job, "fit", iters, quiet, json_out, force)


def _run_with_signals(job: Callable[[ProgressReporter, Callable[[], bool]], FitResult], label: str,
                      n_steps: int | None, quiet: bool, json_out: str | None, force: bool) -> None:
    """Run a fit with a progress bar; the first SIGINT/SIGTERM stops after the current step (checkpoint
    kept, exit 130/143), a second aborts (the last checkpoint stays, the run is marked interrupted)."""
    try:
        with ProgressReporter(label, n_steps or 1, quiet=quiet) as bar:
            result = job(bar, STOP)
    except KeyboardInterrupt:
        console.error("aborted: the run keeps its last checkpoint (levelrecon fit --resume RUN_DIR)")
        raise SystemExit(STOP.exit_code) from None
    summary = {"run_dir": str(result.run_dir), "method": result.method, "steps": result.steps,
               "interrupted": result.interrupted, "seconds": round(result.seconds, 2),
               "final_loss": result.final_loss, "n_points": result.n_points}
    if json_out:
        write_json(summary, json_out, force)
    if not quiet and json_out != "-":
        state = "interrupted, checkpoint kept" if result.interrupted else "done"
        loss = f", final loss {result.final_loss:.3e}" if result.final_loss is not None else ""
        console.err.print(f"{result.method}: {state} in {result.seconds:.1f}s ({result.steps} steps{loss}) "
                          f"-> {printable(str(result.run_dir))}", markup=False)
    if result.interrupted:
        raise SystemExit(STOP.exit_code)

