"""Resumable OCSDF training: the full training state, written after every epoch.

The paper's image network takes hours per digit on a CPU; a run that stops (a killed job, a shut-down
machine) continues from its last epoch instead of starting over. The state is a plain dict of tensors
and primitives (read with `torch.load(weights_only=True)`): network and optimizer state, the step
reached, the random generator's state and the logs. A fingerprint of the estimator's parameters and
of the training rows keeps a state from being resumed by a different run.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from levelrecon.files import atomic_output
from levelrecon.recon.checkpoint import read_payload

FORMAT = "levelrecon-oneclass-training"
VERSION = 1


def fingerprint(params: dict[str, Any], Z: np.ndarray) -> str:
    """Hash of the parameters that shape training (device left out) and of the training rows."""
    keep = {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(params.items()) if k != "device"}
    h = hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode())
    h.update(np.ascontiguousarray(Z, dtype=np.float64).tobytes())
    return h.hexdigest()


def save_state(path: str | os.PathLike, key: str, step: int, model: torch.nn.Module, opt: torch.optim.Optimizer,
               generator: torch.Generator, history: list[dict[str, float]]) -> None:
    """Write the training state after `step` optimizer steps, atomically (a crash leaves the previous one)."""
    payload = {"format": FORMAT, "version": VERSION, "key": key, "step": step,
               "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "optimizer": opt.state_dict(), "generator": generator.get_state(), "history": history}
    with atomic_output(Path(path), force=True) as tmp:
        torch.save(payload, tmp)


def load_state(path: str | os.PathLike, key: str, model: torch.nn.Module, opt: torch.optim.Optimizer,
               generator: torch.Generator) -> tuple[int, list[dict[str, float]]]:
    """Restore a state saved by :func:`save_state` into model, opt and generator: (step, history).

    A missing file, or one from a run with other parameters or rows, restores nothing: (0, []).
    """
    if not Path(path).is_file():
        return 0, []
    data = read_payload(path, FORMAT, VERSION, "levelrecon one-class training state")
    if data.get("key") != key:
        return 0, []
    model.load_state_dict(data["model"])
    opt.load_state_dict(data["optimizer"])
    generator.set_state(data["generator"])
    return int(data["step"]), list(data["history"])
