"""Options and small helpers shared by several commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from levelrecon.errors import InputError
from levelrecon.recon.data.io import atomic_output

force_option = click.option("--force", is_flag=True, help="Overwrite existing outputs.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress output.")
device_option = click.option("--device", default="auto", show_default=True,
                             help="auto (CUDA if available), cpu, cuda or cuda:N.")


class AutoOrFloat(click.ParamType):
    """`auto`, or a number >= 0 (options whose default is decided by the data)."""

    name = "auto|NUMBER"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float | str:
        if isinstance(value, (int, float)) or value == "auto":
            return value
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is neither 'auto' nor a number", param, ctx)
        if number < 0:
            self.fail(f"{value!r} is negative", param, ctx)
        return number


def parse_set(values: tuple[str, ...]) -> dict[str, Any]:
    """--set KEY=VALUE pairs; values parsed as JSON when possible (numbers, booleans), else strings."""
    out: dict[str, Any] = {}
    for item in values:
        if "=" not in item:
            raise InputError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip().replace("-", "_")] = value
    return out


def write_json(data: Any, target: str, force: bool) -> None:
    """JSON to a file (atomically, not overwriting unless forced) or to stdout for '-'."""
    text = json.dumps(data, indent=2, default=str) + "\n"
    if target == "-":
        click.echo(text, nl=False)
        return
    with atomic_output(Path(target), force=force) as tmp:
        tmp.write_text(text)
