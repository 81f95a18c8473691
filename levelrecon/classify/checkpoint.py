"""Classifier checkpoints: plain dicts of tensors and primitives, read with `torch.load(weights_only=True)`.

Opening a checkpoint never unpickles arbitrary objects; everything needed to rebuild and score the
model (network spec, objective options, data name, input bounds, the split) travels in the dict.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from levelrecon.classify.networks import NetworkSpec, build_network
from levelrecon.errors import InputError
from levelrecon.files import atomic_output
from levelrecon.recon.checkpoint import read_payload

FORMAT = "levelrecon-classifier"
VERSION = 1


def save_classifier(path: str | os.PathLike, model: nn.Module, spec: NetworkSpec, info: dict[str, Any],
                    force: bool = False) -> None:
    """Write atomically; `info` must hold only primitives (str, numbers, lists, dicts, None)."""
    payload = {"format": FORMAT, "version": VERSION, "network": spec.to_dict(),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "info": info}
    with atomic_output(path, force=force) as tmp:
        torch.save(payload, tmp)


def load_classifier(path: str | os.PathLike, device: torch.device | str = "cpu"
                    ) -> tuple[nn.Module, NetworkSpec, dict[str, Any]]:
    """The network in eval mode, its spec and the stored info; a bad file raises InputError."""
    path = Path(path)
    payload = read_payload(path, FORMAT, VERSION, "levelrecon classifier checkpoint")
    try:
        spec = NetworkSpec.from_dict(payload["network"])
        model = build_network(spec)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise InputError(f"{path}: damaged classifier checkpoint ({type(exc).__name__})") from None
    return model.to(device).eval(), spec, dict(payload.get("info", {}))
