"""`levelrecon view`: an interactive 3-D viewer in the browser (viser) for runs, meshes and clouds."""

from __future__ import annotations

from pathlib import Path

import click

from levelrecon.cli import console


@click.command(epilog="""\b
Examples:
  levelrecon view                                   # the latest run: cloud, mesh, cross-section, loss
  levelrecon view runs/bunny_igr_1 runs/bunny_sal_1 --gt bunny.ply   # side by side, coloured by error
  levelrecon view scan.ply --port 8081
  ssh -L 8080:127.0.0.1:8080 host   # then open http://127.0.0.1:8080 here, with `levelrecon view` there
""")
@click.argument("sources", nargs=-1, type=click.Path(path_type=Path))
@click.option("--gt", type=click.Path(path_type=Path),
              help="Ground-truth mesh: colour each mesh vertex by its distance to this surface.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 exposes the viewer (and your data) to the network.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True,
              help="Port to listen on; if taken, the next free one (the printed URL says which).")
@click.option("--up", type=click.Choice(["x", "y", "z"]), default="y", show_default=True,
              help="Axis pointing up in the viewer.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True),
              help="Stop serving after this many seconds (scripts and tests) [default: until Ctrl-C].")
def view(sources: tuple[Path, ...], gt: Path | None, host: str, port: int, up: str, timeout: float | None) -> None:
    """Show SOURCES (run directories, model.pt, mesh or cloud files; default: the latest run) in the browser.

    Several sources are placed side by side along x. A run shows its input cloud, its mesh (once
    `levelrecon mesh` has run), a cross-section of its field coloured by value with the level line (the
    plane is moved with the controls), and its training loss. With --gt meshes are coloured by the
    distance of each vertex to the ground truth. Prints the URL and serves until Ctrl-C.
    """
    from levelrecon.recon import runs
    from levelrecon.viz.scene import load_scene
    from levelrecon.viz.viewer import MissingExtraError, Viewer, require_viser

    try:
        require_viser()  # before loading anything: the missing extra is the first thing to say
    except MissingExtraError as exc:
        raise click.ClickException(str(exc)) from None
    items = load_scene(list(sources) or [runs.resolve_run(None)], gt)
    viewer = Viewer(items, host=host, port=port, up=up)
    console.out.print(f"levelrecon view: {viewer.url}  ({', '.join(i.name for i in items)}; Ctrl-C to stop)")
    try:
        viewer.wait(timeout)
    except KeyboardInterrupt:  # the usual way to stop a server: not an error
        console.err.print("viewer stopped")
    finally:
        viewer.close()
