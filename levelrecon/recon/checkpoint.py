"""One checkpoint file: method, config, normalization, weights and method extras.

Saved as plain tensors and Python primitives so it loads with `torch.load(weights_only=True)`:
opening a checkpoint never unpickles arbitrary objects.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from levelrecon.errors import InputError, short_reason
from levelrecon.files import atomic_output
from levelrecon.recon.data.normalize import Normalization
from levelrecon.recon.meshing.marching import FieldFn, torch_field
from levelrecon.recon.methods.registry import Method, get_method

FORMAT = "levelrecon-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    method: str
    config: dict[str, Any]
    normalization: Normalization
    state_dict: dict[str, torch.Tensor]
    extra: dict[str, Any]
    step: int
    training: dict[str, Any] | None = None  # optimizer, generator, history, method state: for --resume
    source: str = "checkpoint"  # the file it came from, for messages

    def build(self, device: str | torch.device = "cpu") -> tuple[Method, nn.Module]:
        """The method object and its network with the trained weights, in eval mode. Weights that do not
        fit the network the config describes raise a one-line InputError naming the file."""
        method = self._method()
        model = method.build_model()
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            raise InputError(f"{self.source}: damaged levelrecon checkpoint (weights do not fit the network: "
                             f"{short_reason(exc)[:100]})") from None
        return method, model.to(device).eval()

    def _method(self) -> Method:
        """The method with the stored config (and extras), the config checked as when it was trained."""
        try:
            cls = get_method(self.method)
        except InputError as exc:
            raise InputError(f"{self.source}: damaged levelrecon checkpoint ({exc})") from None
        config = dict(self.config)
        if "field" in {f.name for f in dataclasses.fields(cls.Config)}:
            config.setdefault("field", "mlp")  # checkpoints from before the field option hold MLPs
        if "pool_k" in config:
            config.setdefault("pool_fit", "plane")  # pools from before the option held tangent-plane targets
        try:
            method = cls(cls.Config(**cls.Config.check_options(config)))
        except InputError as exc:
            raise InputError(f"{self.source}: damaged levelrecon checkpoint ({exc})") from None
        method.extra = dict(self.extra)
        return method

    def field(self, device: str | torch.device = "cpu") -> tuple[Method, FieldFn]:
        """The method and its trained field as a numpy function (n, 3) → (n,) in normalized coordinates."""
        method, model = self.build(device)
        return method, torch_field(model)


def save_checkpoint(path: str | os.PathLike, method: Method, model: nn.Module, normalization: Normalization,
                    step: int, force: bool = True, training: dict[str, Any] | None = None) -> None:
    """Write atomically (a temporary file renamed into place): a kill leaves the previous checkpoint.

    `training` (optional) is what `fit --resume` needs; finished runs leave it out to stay small.
    """
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "method": _method_name(method),
        "config": method.cfg.to_dict(),
        "normalization": normalization.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(method.extra),
        "step": int(step),
        **({"training": training} if training is not None else {}),
    }
    with atomic_output(path, force=force) as tmp:
        torch.save(payload, tmp)


def _method_name(method: Method) -> str:
    from levelrecon.recon.methods.registry import METHODS

    for name, spec in METHODS.items():
        if spec.cls == type(method).__name__ and spec.module == type(method).__module__:
            return name
    raise ValueError(f"method {type(method).__name__} is not registered")


def read_payload(path: str | os.PathLike, fmt: str, version: int, what: str) -> dict[str, Any]:
    """The dict saved by `torch.save` at `path`, loaded with `weights_only=True` and checked.

    Shared by every levelrecon file format built on torch.save (reconstruction checkpoints, classifiers,
    one-class models): a missing, foreign, newer or unsafe file raises a one-line InputError naming it.
    `what` names the kind of file in messages ("levelrecon checkpoint", ...).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} does not exist")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise InputError(f"{path}: not a readable {what} (it holds arbitrary Python objects; refusing to "
                         "unpickle them)") from None
    except Exception as exc:  # truncated or foreign files raise many types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise InputError(f"{path}: not a readable {what} ({first})") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise InputError(f"{path}: not a {what}")
    if data.get("version", 0) > version:
        raise InputError(f"{path}: {what} version {data['version']} is newer than this levelrecon")
    return data


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """A checkpoint, its parts checked: a file that loads safely but lacks or garbles one (no normalization,
    an option its method does not have, no weights) raises a one-line InputError, not a traceback later."""
    data = read_payload(path, FORMAT, VERSION, "levelrecon checkpoint")

    def damaged(what: str) -> InputError:
        return InputError(f"{path}: damaged levelrecon checkpoint ({what})")

    try:
        norm = Normalization.from_dict(data["normalization"])
    except (KeyError, TypeError, ValueError):
        raise damaged("no valid normalization") from None
    if len(norm.center) != 3 or not (np.isfinite(norm.center).all() and np.isfinite(norm.scale) and norm.scale > 0):
        raise damaged("no valid normalization")
    state = data.get("state_dict")
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise damaged("weights do not fit the network: none stored")
    if not isinstance(data.get("config"), dict) or not isinstance(data.get("method"), str):
        raise damaged("no method or config")
    try:
        step = int(data.get("step", 0))
    except (TypeError, ValueError):
        raise damaged("no valid step") from None
    ckpt = Checkpoint(data["method"], dict(data["config"]), norm, state, dict(data.get("extra") or {}), step,
                      data.get("training"), str(path))
    ckpt._method()  # the method exists and the config is one of its configs
    return ckpt
