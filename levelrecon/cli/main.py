"""The `levelrecon` command group: lazy subcommands and the mapping of errors to exit codes."""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import click

from levelrecon import __version__
from levelrecon.cli import console
from levelrecon.errors import InputError

# name -> (module, attribute); modules are imported only when their command runs (torch is slow to load).
COMMANDS: dict[str, tuple[str, str]] = {
    "fit": ("levelrecon.cli.fit", "fit"),
    "mesh": ("levelrecon.cli.mesh", "mesh"),
    "eval": ("levelrecon.cli.evaluate", "evaluate"),
    "sample": ("levelrecon.cli.sample", "sample"),
    "batch": ("levelrecon.cli.batch", "batch"),
    "info": ("levelrecon.cli.info", "info"),
    "plot-slice": ("levelrecon.cli.plot_slice", "plot_slice"),
    "render": ("levelrecon.cli.render", "render"),
    "view": ("levelrecon.cli.view", "view"),
    "oneclass": ("levelrecon.cli.oneclass", "oneclass"),
    "classify": ("levelrecon.cli.classify", "classify"),
}


class LevelreconGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        try:
            return super().invoke(ctx)
        except InputError as exc:  # bad input: one line, exit 2, no traceback
            console.error(str(exc))
            ctx.exit(2)
        except click.UsageError as exc:  # unknown option, bad value: one line too (click prints three)
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            console.error(f"{exc.format_message()} (see '{where} --help')")
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            console.error("interrupted")
            ctx.exit(130)
        except Exception as exc:  # a failure of ours or of a library: exit 1
            if os.environ.get("LEVELRECON_DEBUG"):
                traceback.print_exc()
            first = (str(exc).strip().splitlines() or [""])[0]
            console.error(f"{type(exc).__name__}: {first}")
            ctx.exit(1)


@click.group(cls=LevelreconGroup, context_settings={"help_option_names": ["-h", "--help"],
                                                    "max_content_width": 100})
@click.version_option(__version__, prog_name="levelrecon")
def cli() -> None:
    """Surface reconstruction from raw point clouds with neural level sets.

    \b
    Typical session:
      levelrecon fit cloud.ply          # train (GPU if present) -> runs/cloud_igr_1/
      levelrecon mesh                   # marching cubes on the latest run -> mesh.ply
      levelrecon eval --chamfer         # Chamfer / Hausdorff / F-score against the input

    Bad input exits with code 2 and a one-line error; set LEVELRECON_DEBUG=1 for tracebacks.
    """
    console.install_warning_hook()


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    if args[:1] == ["fit"]:  # before click and the command's imports: an early Ctrl-C is not lost
        from levelrecon.cli.signals import STOP

        STOP.install()
    cli(prog_name="levelrecon")


if __name__ == "__main__":
    sys.exit(main())
