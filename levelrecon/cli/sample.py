"""`levelrecon sample`: area-uniform samples of a mesh, to make benchmark clouds."""

from __future__ import annotations

from pathlib import Path

import click

from levelrecon.cli import console
from levelrecon.cli.options import force_option


@click.command(epilog="""\b
Examples:
  levelrecon sample bunny.off -n 20000 --noise 0.0025 -o bunny_20k.ply
  levelrecon sample spot.obj -n 2000 --normals -o spot_2k.xyz
""")
@click.argument("mesh_path", metavar="MESH", type=click.Path(path_type=Path))
@click.option("-n", "--count", type=click.IntRange(1), required=True, help="Number of samples.")
@click.option("--noise", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Gaussian noise σ as a fraction of the bounding-box diagonal (0.0025 = 0.25 %).")
@click.option("--normals", is_flag=True, help="Also write the face normals of the samples.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Cloud file: .ply .xyz .txt .pts .npy .npz .obj")
@force_option
def sample(mesh_path: Path, count: int, noise: float, normals: bool, seed: int, output: Path,
           force: bool) -> None:
    """Draw COUNT area-uniform points on the triangle mesh MESH (optionally noisy)."""
    from levelrecon.recon.io import check_output, load_mesh, write_points
    from levelrecon.recon.sampling import add_noise, sample_surface

    check_output(output, force)
    mesh = load_mesh(mesh_path)
    pts, nrm = sample_surface(mesh, count, seed=seed)
    pts = add_noise(pts, noise, seed=seed + 1)
    write_points(pts, output, normals=nrm if normals else None, force=force)
    console.err.print(f"{count} samples of {mesh_path} (noise {noise:g} × diagonal) -> {output}")
