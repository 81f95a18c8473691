"""levelrecon: surface reconstruction from raw point clouds with neural level sets."""

import os

# OpenMP threads that spin while waiting collapse torch's CPU speed when the machine is shared
# (measured: 55 ms -> 1.5 s per step, DESIGN §5). Passive waiting must be chosen before torch loads;
# an explicit setting by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
