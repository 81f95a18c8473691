"""The table of reconstruction methods and the small interface each one implements.

A method is a config dataclass plus a class with `build_model`, `setup` and `loss`; the training loop
(`recon/train.py`) and the CLI know nothing else about it. Adding a method = one module + one entry.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from levelrecon.errors import InputError


@dataclass(frozen=True)
class Rule:
    """What values one option accepts, beyond its annotated type: a lower bound (inclusive, or exclusive
    with `above`), an upper bound, or a set of choices; with both, the choices are the words a number-or-word
    option accepts (e.g. `auto`) and the bounds hold for its numbers."""

    low: float | None = None
    above: bool = False  # low is exclusive
    high: float | None = None
    choices: tuple[str, ...] = ()

    def check(self, key: str, value: Any) -> None:
        bounded = self.low is not None or self.high is not None
        if self.choices and (isinstance(value, str) or not bounded) and value not in self.choices:
            wanted = f"a number or {' or '.join(self.choices)}" if bounded else f"choose from {', '.join(self.choices)}"
            raise InputError(f"option {key}={value!r}: {wanted}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.low is not None and (value <= self.low if self.above else value < self.low):
                raise InputError(f"option {key}={value!r}: must be {'>' if self.above else '≥'} {self.low:g}")
            if self.high is not None and value > self.high:
                raise InputError(f"option {key}={value!r}: must be ≤ {self.high:g}")


POSITIVE, NON_NEGATIVE, FRACTION = Rule(0, above=True), Rule(0), Rule(0, high=1)
AUTO_OR_NON_NEGATIVE = Rule(0, choices=("auto",))


@dataclass
class MethodConfig:
    """Options of a method; each method subclasses it and sets `presets` (name -> overrides).

    Every option is checked against its annotated type and its entry in `rules` (merged along the class
    hierarchy, so a subclass that redeclares a default keeps the rule) before any run is written, whether
    it came as a CLI flag, `--set KEY=VALUE` or an API keyword.
    """

    seed: int = 0

    presets: ClassVar[dict[str, dict[str, Any]]] = {"cpu": {}, "paper": {}}
    rules: ClassVar[dict[str, Rule]] = {}

    @classmethod
    def from_preset(cls, preset: str, **overrides: Any) -> MethodConfig:
        if preset not in cls.presets:
            raise InputError(f"unknown preset {preset!r}; choose from {', '.join(cls.presets)}")
        values = {**cls.presets[preset], **cls.check_options(overrides)}
        return cls(**values)

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """`options` (None values dropped) converted to their fields' types and checked; one-line
        InputError for an unknown option, a wrong type or a value out of range."""
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in options.items() if v is not None}
        unknown = set(values) - names
        if unknown:
            raise InputError(f"option(s) {', '.join(sorted(unknown))} do not apply to this method")
        rules = cls.all_rules()
        out = {}
        for key, value in values.items():
            out[key] = _convert(key, value, hints[key])
            if key in rules:
                rules[key].check(key, out[key])
        return out

    @classmethod
    def all_rules(cls) -> dict[str, Rule]:
        merged: dict[str, Rule] = {}
        for klass in reversed(cls.__mro__):
            merged.update(vars(klass).get("rules", {}))
        return merged

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _convert(key: str, value: Any, annotation: Any) -> Any:
    """`value` as the annotated type: ints stay ints (a float only when integral, e.g. 1e4), numbers are
    finite, strings stay strings (a number becomes its text, e.g. grid_levels=16), booleans are booleans."""
    allowed = typing.get_args(annotation) or (annotation,)
    for kind in allowed:
        if kind is bool and isinstance(value, bool):
            return value
        if isinstance(value, bool):
            continue
        if kind is int and isinstance(value, int):
            return value
        if kind is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if kind is float and isinstance(value, (int, float)):
            if not math.isfinite(value):
                raise InputError(f"option {key}={value!r}: must be a finite number")
            return float(value)
        if kind is str and isinstance(value, str):
            return value
    if str in allowed and isinstance(value, (int, float)):
        return str(value)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "text"}
    wanted = " or ".join(names.get(k, getattr(k, "__name__", str(k))) for k in allowed)
    raise InputError(f"option {key}={value!r}: expected {wanted}")


@dataclass
class NeuralConfig(MethodConfig):
    """Options shared by the neural methods: the training loop and the network size."""

    iters: int = 1500
    batch: int = 8192
    lr: float = 1e-3
    lr_schedule: str = "cosine"  # cosine | step | constant
    width: int = 256
    depth: int = 4
    activation: str = "softplus"
    radius: float = 0.5  # initial sphere of the geometric initialisation (normalized units)
    field: str = "mlp"  # mlp | grid (recon/methods/fields.py)
    grid_levels: str = "16,32,64"  # grid field: nodes per axis of each level, coarse to fine
    grid_features: int = 4
    grid_hidden: int = 64
    grid_lr: float = 1e-2  # grids learn faster than the decoder (which uses `lr`)
    coarse_to_fine: float = 0.5  # fraction of training over which grid levels are switched on
    max_points: int = 200_000  # larger clouds train on a seeded random subset of this size (0: all)

    rules: ClassVar[dict[str, Rule]] = {
        "iters": Rule(1), "batch": Rule(1), "lr": POSITIVE, "width": Rule(1), "depth": Rule(1),
        "lr_schedule": Rule(choices=("cosine", "step", "constant")),  # train.lr_factor
        "activation": Rule(choices=("softplus", "relu")),  # models.mlp.ImplicitMLP
        "radius": POSITIVE, "field": Rule(choices=("mlp", "grid")), "grid_features": Rule(1),
        "grid_hidden": Rule(1), "grid_lr": POSITIVE, "coarse_to_fine": FRACTION, "max_points": NON_NEGATIVE,
    }


class Method:
    """Base class: a network factory, a sampler and a loss behind one training loop."""

    Config: ClassVar[type[MethodConfig]] = MethodConfig
    neural: ClassVar[bool] = True
    n_outputs: ClassVar[int] = 1
    inside: ClassVar[str] = "negative"  # sign of F inside the surface, for face orientation
    # the mesh passes through the data, so surface far from every point is a cap over a hole that the
    # automatic trim may remove; False for OCSDF, whose shell lies at an offset from the points
    through_data: ClassVar[bool] = True

    def __init__(self, cfg: MethodConfig) -> None:
        self.cfg = cfg
        self.extra: dict[str, Any] = {}  # learned values stored in the checkpoint (e.g. a mesh level)

    def configure(self, points: np.ndarray) -> None:
        """Resolve data-dependent options (e.g. `grid_levels=auto`) for normalized `points` before the
        network is built, so the checkpoint stores the values actually used."""
        if getattr(self.cfg, "grid_levels", None) == "auto":
            from levelrecon.recon.methods.fields import auto_levels

            self.cfg = dataclasses.replace(self.cfg, grid_levels=auto_levels(points))

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def setup(self, points: np.ndarray, normals: np.ndarray | None, device: torch.device,
              generator: torch.Generator) -> None:
        """Prepare per-cloud state (KD-trees, sample scales) for normalized `points`."""

    def loss(self, model: nn.Module, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """Per-cloud state that changes during training (tensors and primitives), for a resumable checkpoint."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore `state()` after `setup` when a run resumes."""

    def finish(self, model: nn.Module) -> None:
        """Hook after training (e.g. compute a mesh level over the input points into `extra`)."""

    def mesh_level(self) -> float:
        return float(self.extra.get("level", 0.0))

    def lipschitz_bound(self, model: nn.Module) -> float | None:
        """A certified Lipschitz constant of the trained field, or None; lets meshing skip empty cells."""
        return None


@dataclass(frozen=True)
class MethodSpec:
    name: str
    module: str
    cls: str
    description: str
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def load(self) -> type[Method]:
        return getattr(importlib.import_module(self.module), self.cls)


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in [
        MethodSpec("sal", "levelrecon.recon.methods.sal", "SAL",
                   "Sign Agnostic Learning: fit |F| to the unsigned distance to the cloud (default)."),
        MethodSpec("igr", "levelrecon.recon.methods.igr", "IGR",
                   "Implicit Geometric Regularization: |F| on the data, Eikonal term, normals when present."),
        MethodSpec("levelset", "levelrecon.recon.methods.levelset", "LevelSet",
                   "Sample-network loss of 'Controlling Neural Level Sets' (Eq. 13); --set curve=true for curves."),
        MethodSpec("poisson", "levelrecon.recon.methods.poisson", "Poisson",
                   "Open3D screened Poisson (classical baseline; normals estimated and oriented if absent)."),
        MethodSpec("ocsdf", "levelrecon.recon.methods.ocsdf", "OCSDF",
                   "1-Lipschitz one-class SDF (HKR loss); mesh = a thin shell around a surface cloud."),
    ]
}


SPARSE_POINTS = 5000
AUTO_METHODS = ("levelset", "igr")  # what auto_method chooses from


def auto_method(n_points: int) -> str:
    """The default method for a cloud of `n_points`: the sample-network `levelset` loss below
    SPARSE_POINTS, `igr` on a feature grid above. Measured point-to-surface against Poisson on the shared
    meshes: on 20,000 points the grid IGR is 0.77–0.97× Poisson in about a minute (0.27× on the open
    camelhead, trimmed); on 2,000 points its estimated normals fail on thin parts (1.4–1.8×) while
    `levelset`, which needs no normals, reaches 0.33–0.65× (median 0.388–0.399 at three training seeds;
    docs/fields.md)."""
    return "levelset" if n_points < SPARSE_POINTS else "igr"


def check_options(method: str, preset: str, options: dict[str, Any]) -> None:
    """Validate options before any input is read or run written. For `auto`, each option is checked by
    the methods auto may choose that have it (the chosen one checks them all again)."""
    if method != "auto":
        get_method(method).Config.from_preset(preset, **options)
        return
    configs = [get_method(name).Config for name in AUTO_METHODS]
    for key, value in options.items():
        owners = [c for c in configs if key in {f.name for f in dataclasses.fields(c)}]
        if not owners:
            raise InputError(f"option {key} applies to none of the methods auto chooses ({', '.join(AUTO_METHODS)})")
        for config in owners:
            config.check_options({key: value})


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        raise InputError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[name].load()
