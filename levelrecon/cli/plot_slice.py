"""`levelrecon plot-slice`: a cross-section of a trained field with iso-lines, as PNG."""

from __future__ import annotations

from pathlib import Path

import click

from levelrecon.cli import console
from levelrecon.cli.options import device_option, force_option

AXES = {"x": 0, "y": 1, "z": 2}


@click.command(epilog="""\b
Examples:
  levelrecon plot-slice                               # latest run, plane z = 0 -> RUN_DIR/slice_z.png
  levelrecon plot-slice runs/bunny_igr_1 --axis x --offset 0.2 -o slice.png
""")
@click.argument("source", required=False, type=click.Path(path_type=Path))
@click.option("--axis", type=click.Choice(list(AXES)), default="z", show_default=True,
              help="Normal of the slicing plane.")
@click.option("--offset", type=float, default=0.0, show_default=True,
              help="Plane position along the axis, in normalized units (the cloud spans [-1, 1]).")
@click.option("--resolution", type=click.IntRange(16, 2048), default=256, show_default=True)
@click.option("--bound", type=click.FloatRange(1.0, 4.0), default=1.1, show_default=True)
@click.option("--slab", type=click.FloatRange(0), default=0.02, show_default=True,
              help="Show input points within this distance of the plane (normalized units).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="PNG file [default: RUN_DIR/slice_<axis>.png].")
@device_option
@force_option
def plot_slice(source: Path | None, axis: str, offset: float, resolution: int, bound: float, slab: float,
               output: Path | None, device: str, force: bool) -> None:
    """Render the field of SOURCE (a run directory or model.pt; default: the latest run) on a plane.

    Colours show F minus the mesh level, thin lines are iso-lines at regular spacing, the bold line is
    the level the mesh is extracted at: for a signed-distance-like field the iso-lines are evenly
    spaced parallel offsets of the surface.
    """
    import numpy as np

    from levelrecon.device import resolve_device
    from levelrecon.errors import InputError
    from levelrecon.files import atomic_output, check_output
    from levelrecon.recon import runs
    from levelrecon.recon.checkpoint import load_checkpoint
    from levelrecon.recon.meshing.marching import evaluate_slice
    from levelrecon.recon.plots import plot_slice as draw

    src, run_dir = runs.resolve_model(source)
    ckpt_path = src if src.suffix == ".pt" else src / runs.CHECKPOINT
    if not ckpt_path.is_file():
        raise InputError(f"{src}: no trained field to slice (a Poisson run has no field)")
    if output is None:
        output = ckpt_path.parent / f"slice_{axis}.png"
    check_output(output, force)
    ckpt = load_checkpoint(ckpt_path)
    method, fn = ckpt.field(resolve_device(device))
    a = AXES[axis]
    values = evaluate_slice(fn, a, offset, resolution, (-bound, bound))
    near = None
    if run_dir is not None and (run_dir / runs.INPUT).is_file():
        pts = ckpt.normalization.apply(np.load(run_dir / runs.INPUT))
        sel = np.abs(pts[:, a] - offset) < slab
        near = pts[sel][:, [i for i in range(3) if i != a]]
    names = tuple(n for n in AXES if n != axis)
    with atomic_output(output, force=force) as tmp:
        draw(values, (-bound, bound), tmp, names, f"{ckpt.method}: {axis} = {offset:g} (normalized)", near,
             level=method.mesh_level())
    console.err.print(f"slice {axis} = {offset:g} -> {output}")
