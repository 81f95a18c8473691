"""`levelrecon mesh`: marching cubes on a trained field -> mesh file."""

from __future__ import annotations

from pathlib import Path

import click

from levelrecon.cli import console
from levelrecon.cli.options import AutoOrFloat, device_option, force_option, quiet_option


@click.command(epilog="""\b
Examples:
  levelrecon mesh                                  # latest run -> runs/<run>/mesh.ply (adaptive 256^3)
  levelrecon mesh runs/bunny_igr_1 -o bunny.obj --resolution 1024
  levelrecon mesh --dense --resolution 256 --force   # every grid point evaluated (slow, the reference)
  levelrecon mesh --margin 3 --force               # wider heuristic band for a steep (non-SDF) field
  levelrecon mesh model.pt -o out.stl --largest-component
  levelrecon mesh --level 0.005 --force            # an offset surface, replacing mesh.ply
  levelrecon mesh runs/curve_levelset_1 -o curve.obj   # a curve run: polyline (OBJ l / PLY edges)
""")
@click.argument("source", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Mesh file; format by extension: .ply .obj .off .stl .glb [default: RUN_DIR/mesh.ply].")
@click.option("--resolution", type=click.IntRange(8, 2048),
              help="Grid points per axis over [-bound, bound]^3 of the normalized cloud [default: 256, refined "
                   "adaptively, 128 for a sparse input; 128 with --dense and for curves].")
@click.option("--dense", is_flag=True,
              help="Evaluate the field at every grid point (resolution^3 evaluations) instead of refining only "
                   "near the surface.")
@click.option("--margin", type=click.FloatRange(0, min_open=True),
              help="Adaptive refinement band, in cell diagonals, for fields without a Lipschitz bound (all but "
                   "ocsdf, whose band is certified): heuristic, larger is safer and slower [default: 1.5].")
@click.option("--level", type=float, help="Iso-level [default: the method's, 0 for SDF methods].")
@click.option("--bound", type=click.FloatRange(1.0, 4.0), default=1.1, show_default=True,
              help="Half-size of the grid cube in normalized units (the cloud spans [-1, 1]).")
@click.option("--largest-component", is_flag=True, help="Keep only the connected component with most faces.")
@click.option("--chunk", type=click.IntRange(1024), default=65536, show_default=True,
              help="Grid points evaluated at once (bounds memory).")
@click.option("--trim", type=AutoOrFloat(), default="auto", show_default=True,
              help="Surface the data does not support: auto = drop the large regions far from every input point "
                   "that close an open scan (closed clouds stay watertight); K = drop every face farther than K "
                   "input point spacings from the input, as Poisson users trim by density (e.g. 3); 0 = keep all.")
@click.option("--snap", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
              help="Move the vertices onto the input's points, the detail a smooth field leaves out: auto = when "
                   "the cloud is dense and nearly noise-free (a raw range scan; noisy clouds would have their "
                   "noise copied).")
@click.option("--curve-trim", type=click.FloatRange(0), default=3.0, show_default=True,
              help="Curve runs: drop pieces farther than this many input point spacings from the input (0: keep all).")
@device_option
@force_option
@quiet_option
def mesh(source: Path | None, output: Path | None, resolution: int | None, dense: bool, margin: float | None,
         trim: float | str, snap: str, level: float | None, bound: float, largest_component: bool, chunk: int,
         curve_trim: float, device: str, force: bool, quiet: bool) -> None:
    """Extract the surface of SOURCE (a run directory or model.pt; default: the latest run).

    The mesh is written in the input cloud's original coordinates. The field is evaluated coarse to fine,
    only in cells that may hold the surface, which gives the dense grid's mesh at a fraction of the cost.
    For a curve network (two outputs) the curve {F1 = 0} ∩ {F2 = 0} is written as a polyline: PLY with an
    edge element, or OBJ `l` lines.
    """
    from levelrecon import api
    from levelrecon.recon import runs
    from levelrecon.recon.data.io import check_mesh_output, write_mesh, write_polyline

    src, run_dir = runs.resolve_model(source)
    if output is None:
        output = run_dir / runs.MESH if run_dir is not None else src.with_name(src.stem + "_mesh.ply")
    check_mesh_output(output, force)  # refuse an unknown format or an existing output before the slow part
    with console.ProgressReporter("mesh: evaluating field", 1, quiet=quiet) as bar:  # total known as it goes
        result = api.load(src).extract(resolution, level=level, bound=bound, largest_component=largest_component,
                                       device=device, chunk=chunk, progress=lambda done, total: bar(done, total),
                                       curve_trim=curve_trim, dense=dense, margin=margin, trim=trim, snap=snap)
    if result.curve is not None:
        write_polyline(*result.curve, output, force=True)
    else:
        write_mesh(result.mesh, output, force=True)
    if run_dir is not None:
        info = runs.read_run_info(run_dir)
        runs.write_run_info(run_dir, {**info, "mesh": str(output.resolve())})
    if not quiet and result.curve is not None:
        verts, edges = result.curve
        trimmed = f" ({result.trimmed} far from the data dropped)" if result.trimmed else ""
        console.err.print(f"{result.method}: curve with {len(verts)} vertices, {len(edges)} edges{trimmed} -> {output}")
    elif not quiet:
        m = result.mesh
        level_txt = f" at level {result.level:g}" if result.level is not None else ""
        trimmed = f", {result.trimmed} far from the data dropped" if result.trimmed else ""
        trimmed += f", {result.snapped} snapped to the input" if result.snapped else ""
        console.err.print(f"{result.method}: {len(m.vertices)} vertices, {len(m.faces)} faces{level_txt}{trimmed}, "
                          f"watertight={m.is_watertight} -> {output}")
        if result.evaluations is not None:
            share = 100 * result.evaluations / result.resolution**3
            share_txt = "" if result.extraction == "dense" else f" ({share:.3g} % of the dense grid's)"
            console.err.print(f"{result.resolution}^3 grid, {result.extraction}: {result.evaluations:,} field "
                              f"evaluations{share_txt}")
