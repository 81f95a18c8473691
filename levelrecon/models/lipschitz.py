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
from deel.torchlip import (
    FrobeniusLinear,
    FullSort,
    GroupSort,
    GroupSort2,
    ScaledAdaptiveAvgPool2d,
    ScaledAvgPool2d,
    SpectralConv2d,
    SpectralLinear,
)
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"groupsort2": GroupSort2, "fullsort": FullSort}
# Parameter-free modules that are 1-Lipschitz in the l2 norm (sorting is a permutation per input).
# The scaled poolings used here (2×2 windows with stride 2, global) preserve the l2 norm at most.
_ONE_LIPSCHITZ = (GroupSort, nn.ReLU, nn.Identity, nn.Flatten, nn.Unflatten, ScaledAvgPool2d,
                  ScaledAdaptiveAvgPool2d)


POWER_ITERATIONS = 3  # per training-mode forward; see set_power_iterations


def set_power_iterations(model: nn.Module, n: int = POWER_ITERATIONS) -> nn.Module:
    """Power iterations the spectral normalization runs per training-mode forward (torch's default: 1).

    With one, RMSprop's large first steps outrun the σ estimate: a weight normalized by a stale σ keeps
    singular values above √3, where the Björck iteration diverges (NaN at step 2 with 512-wide FullSort
    layers, measured). A few more cost matrix-vector products only.
    """
    for module in model.modules():
        if hasattr(module, "n_power_iterations"):
            module.n_power_iterations = n
    return model


class ProjectedLinear(nn.Linear):
    """A dense layer whose weight *is* kept orthogonal (unit Frobenius norm for a single output row).

    torchlip's layers re-orthogonalize an unconstrained weight inside every training forward (spectral
    normalization, then up to 15 Björck iterations, differentiated): at width 512 on a CPU that is most
    of a step. Here the forward is a plain matrix product and :meth:`project_` restores orthogonality
    after each optimizer step with a few Björck iterations from an already almost orthogonal weight
    (projected gradient descent). Same function class: orthogonal kernels, 1-Lipschitz layers.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features)
        with torch.no_grad():
            nn.init.orthogonal_(self.weight)
            self.bias.zero_()
        self.project_(iters=0)

    @torch.no_grad()
    def project_(self, iters: int = 3) -> None:
        """Björck iterations W ← 1.5 W − 0.5 W WᵀW toward the nearest orthogonal matrix, in place."""
        w = self.weight
        if w.shape[0] == 1:  # the output row: unit norm
            w.div_(w.norm().clamp_min(1e-12))
            return
        w.div_(torch.linalg.matrix_norm(w, ord=2) if iters == 0 else 1.0)
        for _ in range(iters):
            if w.shape[0] > w.shape[1]:
                w.copy_(1.5 * w - 0.5 * w @ (w.t() @ w))
            else:
                w.copy_(1.5 * w - 0.5 * (w @ w.t()) @ w)


def project_weights(model: nn.Module, iters: int = 3) -> None:
    """Re-orthogonalize every :class:`ProjectedLinear` of `model` (after an optimizer step); a no-op else."""
    for module in model.modules():
        if isinstance(module, ProjectedLinear):
            module.project_(iters)


KERNELS = ("bjorck", "projected")


def lipschitz_mlp(in_dim: int, width: int = 128, depth: int = 4, activation: str = "groupsort2",
                  kernels: str = "bjorck") -> nn.Sequential:
    """x (n, in_dim) -> F (n, 1): `depth` orthogonal hidden layers of `width`, a unit-norm last layer.

    GroupSort2 sorts pairs (cheaper, needs an even width); FullSort sorts the whole layer (more
    expressive per layer, ~1.6× slower, the reference choice). kernels: "bjorck" = torchlip's
    re-parametrized layers (the paper's), "projected" = :class:`ProjectedLinear` (same function class,
    several times cheaper per step at width 512; call :func:`project_weights` after each step).
    """
    if kernels not in KERNELS:
        raise ValueError(f"unknown kernels {kernels!r}; choose from {', '.join(KERNELS)}")
    if kernels == "projected":
        dense, last = ProjectedLinear, ProjectedLinear
    else:
        dense, last = SpectralLinear, FrobeniusLinear
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
        layers += [dense(a, b), act()]
    layers.append(last(width, 1))
    return set_power_iterations(nn.Sequential(*layers))


class LipschitzVGG(nn.Sequential):
    """Flat images (n, C·H·W) -> F (n, 1): the OCSDF paper's VGG-like 1-Lipschitz network (its Table 6).

    Three stages of 3×3 orthogonal ("same"-padded) convolutions with GroupSort2, `width`, 2·`width` and
    4·`width` channels, `depth`, `depth` and `depth` − 1 convolutions per stage, a scaled 2×2 average
    pooling after the first two stages, a scaled global average pooling and a unit-norm linear output.
    The paper: width 64, depth 4. Inputs stay flat so the shared Newton step sees (n, d) tensors.
    """

    def __init__(self, shape: tuple[int, int, int], width: int = 64, depth: int = 4) -> None:
        if len(shape) != 3 or width < 2 or width % 2 or depth < 2:
            raise ValueError(f"need an image shape (C, H, W), an even width >= 2 and depth >= 2; got {shape}, "
                             f"width={width}, depth={depth}")
        layers: list[nn.Module] = [nn.Unflatten(1, tuple(shape))]
        channels = shape[0]
        for stage, n_conv in enumerate((depth, depth, depth - 1)):
            out = width * 2 ** stage
            for _ in range(n_conv):
                layers += [SpectralConv2d(channels, out, 3, padding=1), GroupSort2()]
                channels = out
            if stage < 2:
                layers.append(ScaledAvgPool2d(2))
        layers += [ScaledAdaptiveAvgPool2d((1, 1)), nn.Flatten(), FrobeniusLinear(channels, 1)]
        super().__init__(*layers)
        self.in_features = int(shape[0] * shape[1] * shape[2])
        self.shape = tuple(shape)
        set_power_iterations(self)


def input_dim(model: nn.Module) -> int:
    """Number of input features of a network: its `in_features`, else its first linear layer's."""
    if isinstance(getattr(model, "in_features", None), int):
        return model.in_features
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


def lipschitz_bound(model: nn.Module, conv_iters: int = 100) -> float:
    """Certified l2 Lipschitz constant: product of the measured spectral norms of the linear layers.

    Measured on the weights eval mode uses (the scoring and meshing mode): dense layers by an exact SVD
    rather than the power iteration of the parametrization; convolutions (`LipschitzVGG`) as operators on
    their actual input size, by `conv_iters` power iterations (an estimate that converges from below: the
    bound of a convolutional network is measured, not certified). Valid for a chain of linear layers,
    convolutions, 1-Lipschitz activations and the norm-preserving scaled poolings; raises ValueError on a
    module it cannot bound.
    """
    was_training = model.training
    model.eval()
    try:
        bound = 1.0
        x = torch.zeros(1, input_dim(model), device=next(model.parameters()).device)
        with torch.no_grad():
            for layer in _layers(model):
                if isinstance(layer, nn.Linear):
                    bound *= float(torch.linalg.matrix_norm(layer.weight.detach().double(), ord=2))
                elif isinstance(layer, nn.Conv2d):
                    bound *= _conv_norm(layer, tuple(x.shape[1:]), conv_iters)
                x = layer(x)
    finally:
        model.train(was_training)
    return bound


def _conv_norm(conv: nn.Conv2d, shape: tuple[int, ...], iters: int) -> float:
    """Spectral norm of a convolution (bias left out) on inputs of `shape`, by power iteration."""
    weight = conv.weight.detach().double()

    def apply(v: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(v, weight, None, conv.stride, conv.padding, conv.dilation, conv.groups)

    v = torch.randn(1, *shape, dtype=torch.float64, device=weight.device, generator=None)
    sigma = 0.0
    for _ in range(iters):
        v = v / v.norm()
        with torch.enable_grad():
            v_ = v.requires_grad_(True)
            u = apply(v_)
            (g,) = torch.autograd.grad(u, v_, u)  # Aᵀ A v
        sigma = float(u.detach().norm())
        v = g.detach()
    return sigma


def _layers(module: nn.Module) -> list[nn.Module]:
    """The linear layers and activations of a sequential network, in order."""
    if isinstance(module, (nn.Linear, nn.Conv2d, *_ONE_LIPSCHITZ)):
        return [module]
    if isinstance(module, nn.Sequential):
        return [layer for child in module for layer in _layers(child)]
    raise ValueError(f"cannot bound the Lipschitz constant of {type(module).__name__} (not a chain of linear "
                     "layers and 1-Lipschitz activations)")
