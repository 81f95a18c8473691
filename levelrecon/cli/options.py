"""Options and small helpers shared by several commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from levelrecon.errors import InputError
from levelrecon.files import atomic_output
from levelrecon.recon.methods.registry import METHODS

force_option = click.option("--force", is_flag=True, help="Overwrite existing outputs.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress output.")
device_option = click.option("--device", default="auto", show_default=True,
                             help="auto (CUDA if available), cpu, cuda or cuda:N.")


# The training options of `fit` and `batch`, declared once. Their types are click's; their ranges and choices
# are the method configs' (MethodConfig.rules), checked with the --set values by `training_overrides`' callers.
TRAINING_OPTIONS = [
    click.option("--method", type=click.Choice(["auto", *METHODS]), default="auto", show_default=True,
                 help="Reconstruction method; auto = levelset below 5,000 points (sparse), igr on a feature grid "
                      "above."),
    click.option("--preset", type=click.Choice(["cpu", "mlp", "paper"]), default="cpu", show_default=True,
                 help="cpu: sized for 2 CPU cores; mlp (igr): the earlier 4×256 MLP settings; paper: the papers' "
                      "network sizes (for GPUs)."),
    click.option("--field", type=click.Choice(["mlp", "grid"]),
                 help="Field representation: grid = multi-resolution feature grids + small decoder (converges in "
                      "a few hundred steps), mlp = the papers' MLP [default: the method's preset]."),
    click.option("--iters", type=int, help="Training steps."),
    click.option("--batch", type=int, help="Samples per step."),
    click.option("--lr", type=float, help="Adam learning rate."),
    click.option("--width", type=int, help="Hidden layer width (MLP fields)."),
    click.option("--depth", type=int, help="Number of hidden layers (MLP fields)."),
    click.option("--seed", type=int, help="Random seed (runs on CPU are reproducible) [default: 0]."),
    click.option("--set", "extra", multiple=True, metavar="KEY=VALUE",
                 help="Any other method option, e.g. sigma_global=0.5 or poisson_depth=9."),
]


def training_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add TRAINING_OPTIONS to a command (parameters method, preset, field, iters, batch, lr, width, depth,
    seed, extra)."""
    for option in reversed(TRAINING_OPTIONS):
        command = option(command)
    return command


def training_overrides(field: str | None, iters: int | None, batch: int | None, lr: float | None,
                       width: int | None, depth: int | None, seed: int | None, extra: tuple[str, ...]
                       ) -> dict[str, Any]:
    """The method options given as flags or --set (None: not given, the preset's value)."""
    flags = {"field": field, "iters": iters, "batch": batch, "lr": lr, "width": width, "depth": depth, "seed": seed}
    return {k: v for k, v in {**flags, **parse_set(extra)}.items() if v is not None}


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
