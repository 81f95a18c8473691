"""`levelrecon sample`: area-uniform samples of a mesh (optionally noisy, with outliers or uneven density), or a
random test curve, to make benchmark clouds."""

from __future__ import annotations

from pathlib import Path

import click

from levelrecon.cli import console
from levelrecon.cli.options import force_option
from levelrecon.errors import InputError


@click.command(epilog="""\b
Examples:
  levelrecon sample bunny.off -n 20000 --noise 0.0025 -o bunny_20k.ply
  levelrecon sample spot.obj -n 2000 --normals -o spot_2k.xyz
  levelrecon sample bunny.off -n 20000 --noise 0.0025 --outliers 0.02 -o bunny_outliers.ply
  levelrecon sample bunny.off -n 20000 --noise 0.0025 --nonuniform 10 -o bunny_density10.ply
  levelrecon sample --curve -n 300 --noise 0.002 --seed 3 -o curve.xyz --curve-gt curve_gt.ply
""")
@click.argument("mesh_path", metavar="[MESH]", required=False, type=click.Path(path_type=Path))
@click.option("-n", "--count", type=click.IntRange(1), required=True, help="Number of samples.")
@click.option("--noise", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Gaussian noise σ as a fraction of the bounding-box diagonal (0.0025 = 0.25 %).")
@click.option("--outliers", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Replace this fraction of the COUNT points (after the noise) by points uniform in the mesh's "
                   "bounding box enlarged 5 % (0.02 = 2 %); the total stays COUNT.")
@click.option("--nonuniform", type=click.FloatRange(min=1), default=None, metavar="RATIO",
              help="Non-uniform density: the half of the surface on the positive side of the plane through the "
                   "bounding-box centre normal to the longest axis is sampled RATIO× sparser (per unit area) "
                   "than the other half; the total stays COUNT.")
@click.option("--normals", is_flag=True, help="Also write the face normals of the samples.")
@click.option("--curve", is_flag=True,
              help="Instead of a mesh: a cubic spline through 6 random points, sampled by farthest-point "
                   "sampling (the curve test of 'Controlling Neural Level Sets').")
@click.option("--curve-gt", type=click.Path(path_type=Path),
              help="With --curve: also write the dense true curve as a polyline (.ply or .obj).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Cloud file: .ply .xyz .txt .pts .npy .npz .obj")
@force_option
def sample(mesh_path: Path | None, count: int, noise: float, outliers: float, nonuniform: float | None,
           normals: bool, curve: bool, curve_gt: Path | None, seed: int, output: Path, force: bool) -> None:
    """Draw COUNT area-uniform points on the triangle mesh MESH (optionally noisy, with outliers or one half
    sparser), or a test curve."""
    import numpy as np

    from levelrecon.files import check_output
    from levelrecon.recon.data.io import load_mesh, write_points, write_polyline
    from levelrecon.recon.data.sampling import (
        add_noise,
        replace_with_outliers,
        sample_surface,
        sample_surface_nonuniform,
    )
    from levelrecon.recon.meshing.curves import curve_cloud

    check_output(output, force)
    if curve:
        if mesh_path is not None:
            raise InputError("--curve generates its own curve: give no MESH")
        if outliers or nonuniform is not None:
            raise InputError("--outliers and --nonuniform need a MESH, not --curve")
        if curve_gt is not None:
            check_output(curve_gt, force)
        pts, dense = curve_cloud(count, noise, seed)
        write_points(pts, output, force=force)
        if curve_gt is not None:
            write_polyline(dense, np.column_stack([np.arange(len(dense) - 1), np.arange(1, len(dense))]),
                           curve_gt, force=force)
        console.err.print(f"{count} samples of a random spline (seed {seed}, noise {noise:g} × diagonal) "
                          f"-> {output}")
        return
    if mesh_path is None:
        raise InputError("give a MESH to sample, or --curve")
    mesh = load_mesh(mesh_path)
    if nonuniform is None:
        pts, nrm = sample_surface(mesh, count, seed=seed)
    else:
        pts, nrm = sample_surface_nonuniform(mesh, count, nonuniform, seed=seed)
    pts = add_noise(pts, noise, seed=seed + 1)
    if outliers:
        pts, nrm, _ = replace_with_outliers(pts, outliers, mesh.bounds, seed=seed + 2, normals=nrm)
    write_points(pts, output, normals=nrm if normals else None, force=force)
    extra = "".join([f", {outliers:g} outliers" if outliers else "",
                     f", one half {nonuniform:g}× sparser" if nonuniform is not None else ""])
    console.err.print(f"{count} samples of {mesh_path} (noise {noise:g} × diagonal{extra}) -> {output}")
