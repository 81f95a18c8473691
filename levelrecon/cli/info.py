"""`levelrecon info`: what is in a cloud, mesh, checkpoint or run directory."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from levelrecon.cli import console
from levelrecon.cli.options import write_json


@click.command(epilog="""\b
Examples:
  levelrecon info scan.ply
  levelrecon info runs/bunny_igr_1/model.pt
  levelrecon info runs/bunny_igr_1 --json -
""")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def info(path: Path, as_json: bool) -> None:
    """Describe PATH: counts, bounds and normals of a cloud or mesh; method and config of a checkpoint."""
    from levelrecon.errors import InputError
    from levelrecon.recon.inspect import describe

    if not path.exists():
        raise InputError(f"{path}: does not exist")
    data = describe(path)
    if as_json:
        write_json(data, "-", force=True)
        return
    table = Table(title=f"{data.pop('kind')}: {data.pop('path')}", title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in data.items():
        if isinstance(value, float):
            value = f"{value:.6g}"
        elif isinstance(value, list) and value and isinstance(value[0], float):
            value = "[" + ", ".join(f"{v:.6g}" for v in value) + "]"
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        table.add_row(key, str(value))
    console.out.print(table)
