"""The package's layers: no module imports a layer above its own (parsed imports, lazy ones included).

    0 errors, files, device, progress     general helpers
    1 models                              torch modules, no I/O
    2 recon                               the pipeline (data, methods, training, meshing, runs)
    3 viz, classify                       consumers of the pipeline
    4 api                                 the Python API
    5 workflows                           built on the API (batch)
    6 cli                                 the commands
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "levelrecon"
LAYERS = {"errors": 0, "files": 0, "device": 0, "progress": 0, "models": 1, "recon": 2, "viz": 3, "classify": 3,
          "api": 4, "workflows": 5, "cli": 6}


def _layer(module: str) -> int | None:
    """The layer of a `levelrecon.X...` module name (None: the package itself, or not ours)."""
    parts = module.split(".")
    if parts[0] != "levelrecon" or len(parts) < 2 or parts[1].startswith("__"):
        return None
    return LAYERS[parts[1]]


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from levelrecon import api` imports the module levelrecon.api
            names += [f"{node.module}.{a.name}" if (PACKAGE / a.name).with_suffix(".py").is_file()
                      or (PACKAGE / a.name).is_dir() else node.module
                      for a in node.names] if node.module == "levelrecon" else [node.module]
    return names


def test_every_module_has_a_layer():
    tops = {p.stem for p in PACKAGE.iterdir() if (p.suffix == ".py" or p.is_dir()) and not p.name.startswith("_")}
    assert tops - {"__pycache__"} == set(LAYERS)


def test_no_module_imports_a_layer_above_it():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        own = _layer(".".join(rel.parts))
        if own is None:  # levelrecon/__init__.py, __main__.py: the package's entry points
            continue
        wrong += [f"{'.'.join(rel.parts)} ({own}) imports {name} ({_layer(name)})"
                  for name in _imports(path) if (_layer(name) or 0) > own]
    assert not wrong, "\n".join(wrong)
