"""`levelrecon render`: shaded views of a mesh or a run's mesh as PNG, headless (no display, no GPU)."""

from __future__ import annotations

from pathlib import Path

import click

from levelrecon.cli import console
from levelrecon.cli.options import force_option


@click.command(epilog="""\b
Examples:
  levelrecon render runs/bunny_igr_1 -o bunny.png          # three views of the run's mesh
  levelrecon render bunny.ply -o err.png --gt truth.ply    # coloured by the distance to the ground truth
  levelrecon render runs/bunny_igr_1 -o thumb.png --views 1 --up z --force
""")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="PNG file to write.")
@click.option("--gt", type=click.Path(path_type=Path),
              help="Ground-truth mesh: colour each vertex by its distance to this surface, with a colour bar.")
@click.option("--views", type=click.IntRange(1, 6), default=3, show_default=True,
              help="Views side by side, evenly spaced around the vertical axis.")
@click.option("--up", type=click.Choice(["x", "y", "z"]), default="y", show_default=True,
              help="Axis drawn vertical (scanned models such as the Stanford bunny are y-up).")
@click.option("--title", help="Figure title [default: the name, and the error summary with --gt].")
@force_option
def render(source: Path, output: Path, gt: Path | None, views: int, up: str, title: str | None, force: bool) -> None:
    """Render SOURCE (a mesh file, or a run directory that has been meshed) to a PNG.

    Shading is computed per face from a light at the camera. With --gt the colour is the point-to-surface
    distance of each vertex to the ground truth (the scale stops at the 99th percentile so that a few
    stray vertices do not wash out the rest), as `levelrecon eval` measures it.
    """
    from levelrecon.errors import InputError
    from levelrecon.files import atomic_output, check_output
    from levelrecon.viz.render import orbit, render_item
    from levelrecon.viz.scene import load_scene

    if output.suffix.lower() != ".png":
        raise InputError(f"{output}: the output must be a .png file")
    check_output(output, force)  # refuse before the slow part
    item = load_scene([source], gt)[0]
    with atomic_output(output, force=force) as tmp:
        render_item(item, tmp, views=orbit(views), up=up, title=title)
    console.err.print(f"render -> {output}")
