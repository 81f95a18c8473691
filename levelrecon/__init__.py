"""levelrecon: surface reconstruction from raw point clouds with neural level sets.

Python API (see docs/api.md)::

    import levelrecon
    mesh = levelrecon.reconstruct("cloud.ply")            # points in, trimesh.Trimesh out
    model = levelrecon.fit(points, method="igr")          # or keep the model: .mesh(), .sdf(q), .save(dir)
    model = levelrecon.load("runs/cloud_igr_1")
"""

from __future__ import annotations

import os
from typing import Any

# OpenMP threads that spin while waiting collapse torch's CPU speed when the machine is shared
# (measured: 55 ms -> 1.5 s per step, DESIGN §5). Passive waiting must be chosen before torch loads;
# an explicit setting by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
__all__ = ["InputError", "LevelreconWarning", "Model", "fit", "load", "reconstruct"]


def __getattr__(name: str) -> Any:
    """The API loads torch on first use, not on `import levelrecon` (the CLI starts faster)."""
    if name in ("Model", "fit", "load", "reconstruct"):
        from levelrecon import api

        return getattr(api, name)
    if name in ("InputError", "LevelreconWarning"):
        from levelrecon import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'levelrecon' has no attribute {name!r}")
