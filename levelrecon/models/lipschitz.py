"""1-Lipschitz dense networks (deel-torchlip layers) and their certified Lipschitz bound.

OCSDF needs F to be 1-Lipschitz so that |F(x) − c| bounds the distance from x to the level set {F = c}:
that is what makes its robustness certificates and the certified sparse meshing sound. The layers come
from deel-torchlip: `SpectralLinear` (spectral normalization, then Björck orthogonalization of the
weight), `FrobeniusLinear` for the unit-norm last layer, and the 1-Lipschitz sorting activations
GroupSort2 / FullSort.

Caveat (measured, DESIGN §5): in eval mode the torchlip layers reuse the weight cached by the last
training-mode forward; :func:`refresh_weights` must run after each optimizer step before the network is
used in eval mode.
"""

from __future__ import annotations

import torch
from deel.torchlip import FrobeniusLinear, FullSort, GroupSort, GroupSort2, SpectralLinear
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"groupsort2": GroupSort2, "fullsort": FullSort}
# Parameter-free modules that are 1-Lipschitz in the l2 norm (sorting is a permutation per input).
_ONE_LIPSCHITZ = (GroupSort, nn.ReLU, nn.Identity)


def lipschitz_mlp(in_dim: int, width: int = 128, depth: int = 4, activation: str = "groupsort2") -> nn.Sequential:
    """x (n, in_dim) -> F (n, 1): `depth` orthogonal hidden layers of `width`, a unit-norm last layer.

    GroupSort2 sorts pairs (cheaper, needs an even width); FullSort sorts the whole layer (more
    expressive per layer, ~1.6× slower, the reference choice).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
    if width < 2 or depth < 1:
        raise ValueError(f"need width >= 2 and depth >= 1, got width={width}, depth={depth}")
    if activation == "groupsort2" and width % 2:
        raise ValueError(f"groupsort2 sorts pairs of units: width must be even, got {width}")
    act = ACTIVATIONS[activation]
    layers: list[nn.Module] = []
    dims = [in_dim] + [width] * depth
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        layers += [SpectralLinear(a, b), act()]
    layers.append(FrobeniusLinear(width, 1))
    return nn.Sequential(*layers)


def input_dim(model: nn.Module) -> int:
    """Number of input features of a dense network (its first linear layer)."""
    first = next((m for m in model.modules() if isinstance(m, nn.Linear)), None)
    if first is None:
        raise ValueError("model has no linear layer")
    return first.in_features


def refresh_weights(model: nn.Module) -> None:
    """One training-mode forward without gradient so eval mode uses the current weights.

    torchlip's Björck parametrization recomputes the orthogonal weight only in training mode and serves
    the cached one in eval mode; without this, eval-mode evaluations lag one optimizer step behind.
    """
    was_training = model.training
    device = next(model.parameters()).device
    model.train()
    with torch.no_grad():
        model(torch.zeros(1, input_dim(model), device=device))
    model.train(was_training)


def lipschitz_bound(model: nn.Module) -> float:
    """Certified l2 Lipschitz constant: product of the measured spectral norms of the linear layers.

    Measured on the weights eval mode uses (the scoring and meshing mode), by an exact SVD rather than the
    power iteration of the parametrization. Valid for a chain of linear layers and 1-Lipschitz
    activations; raises ValueError on a module it cannot bound.
    """
    was_training = model.training
    model.eval()
    try:
        bound = 1.0
        for layer in _layers(model):
            if isinstance(layer, nn.Linear):
                bound *= float(torch.linalg.matrix_norm(layer.weight.detach().double(), ord=2))
    finally:
        model.train(was_training)
    return bound


def _layers(module: nn.Module) -> list[nn.Module]:
    """The linear layers and activations of a sequential network, in order."""
    if isinstance(module, (nn.Linear, *_ONE_LIPSCHITZ)):
        return [module]
    if isinstance(module, nn.Sequential):
        return [layer for child in module for layer in _layers(child)]
    raise ValueError(f"cannot bound the Lipschitz constant of {type(module).__name__} (not a chain of linear "
                     "layers and 1-Lipschitz activations)")
