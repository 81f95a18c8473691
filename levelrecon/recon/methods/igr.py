"""IGR — Implicit Geometric Regularization (Gropp et al. 2020), with an optional target pool.

Loss: mean_X |F(x)| + λ·mean_D (‖∇F‖ − 1)² + τ·mean_X ‖∇F(x) − n(x)‖ (τ = 0 without normals)
      + ρ·mean_Q |F(q) − s(q)|   (ρ = pool_weight, with normals only; | |F| − s | where s is unsigned).
D = local samples N(x_i, σ_i²) (σ_i: distance to the k-th neighbour) plus 1/8 as many uniform samples in
an enlarged box. The Eikonal term makes F a signed distance; the geometric initialisation and the
implicit regularisation of the gradient descent pick the smooth, plausible zero level set.
Q is a pool of queries drawn once with signed distance targets s to a sphere fitted to the nearby
points and normals (APSS; or the average tangent-plane distance, `pool_fit=plane`; recon/data/targets.py):
dense supervision around the surface that lets a feature-grid field converge in a few hundred steps
without fitting the noise of single points. Estimated normals can come out flipped in patches (the tip
of a thin part); a field trained for a while on the rest is right there, so at `reorient_at` of
training the normals that disagree with its gradient are flipped and the pool's targets recomputed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from levelrecon.errors import InputError
from levelrecon.models.levelset import field_gradient
from levelrecon.models.losses import eikonal_loss, normal_loss
from levelrecon.recon.data.normals import estimate_normals
from levelrecon.recon.data.sampling import gaussian_around, knn_scale, uniform_box
from levelrecon.recon.data.targets import TargetPool
from levelrecon.recon.methods.fields import build_field
from levelrecon.recon.methods.registry import AUTO_OR_NON_NEGATIVE, Method, NeuralConfig, Rule


@dataclass
class IGRConfig(NeuralConfig):
    """Defaults (the `cpu` preset): a feature-grid field, estimated normals and the target pool — the
    combination measured best per CPU-second (docs/fields.md). `mlp` is the earlier 4×256 MLP preset."""

    iters: int = 400
    batch: int = 2048
    lr: float = 2e-3
    lr_schedule: str = "cosine"
    field: str = "grid"
    grid_levels: str = "auto"  # 16,32,… up to the sample spacing (recon/fields.auto_levels)
    grid_features: int = 2
    surface_weight: float | str = "auto"  # weight of mean |F| at the input points; auto: auto_surface_weight
    eikonal_weight: float = 0.1
    normal_weight: float | str = "auto"  # with normals (given or estimated); auto: by the noise (auto_normal_weight)
    estimate_normals: bool = True  # estimate and orient normals (as the Poisson baseline does) if absent
    sigma_k: int = 50
    box: float = 1.5  # uniform samples in [-box, box]³ of the normalized cloud
    skip: bool = True  # MLP field: re-inject the input at the middle layer
    pool_weight: float = 2.0  # weight of the signed distance targets (needs normals)
    pool_size: int = 20  # pool queries per input point (capped at 1M)
    pool_batch: int = 8192
    pool_sigma: float = 2.0  # pool queries around each point: σ = pool_sigma × local spacing
    pool_k: int = 30
    pool_width: float = 3.0  # kernel width of the targets, × local spacing
    pool_fit: str = "sphere"  # targets from a sphere fitted to the neighbours (APSS) or their tangent "plane"s
    reorient_at: float = 0.3  # with a pool: flip normals against the field's gradient at this fraction (0: never)

    rules: ClassVar[dict[str, Rule]] = {"normal_weight": AUTO_OR_NON_NEGATIVE, "surface_weight": AUTO_OR_NON_NEGATIVE}
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": {},
        "mlp": {"field": "mlp", "iters": 1200, "batch": 4096, "estimate_normals": False, "pool_weight": 0.0,
                "normal_weight": 1.0, "surface_weight": 1.0},
        "paper": {"field": "mlp", "iters": 20000, "batch": 16384, "width": 512, "depth": 8, "lr": 5e-3,
                  "lr_schedule": "step", "estimate_normals": False, "pool_weight": 0.0, "normal_weight": 1.0,
                  "surface_weight": 1.0},
    }


POOL_FITS = ("sphere", "plane")
NOISY_VARIATION = 0.17  # median surface variation of the shared meshes' 20k-point clouds with 1 % noise


def auto_normal_weight(variation: float) -> float:
    """Weight of ‖∇F − n‖ for a cloud: (v / 0.17)² clipped to [0.1, 1], v its median surface variation
    (`recon.data.normals.surface_variation`).

    On clouds with 0.25 % noise the grid field follows the data better when the estimated normals only
    guide it (bunny 0.00107 → 0.00086 × diagonal, fandisk 0.00104 → 0.00087, 3holes 0.00065 → 0.00060 at
    weight 0.1 instead of 1); with 1 % noise the points themselves are too rough and the normals must
    hold the surface (bunny 0.0045 at 0.1: hundreds of bubbles and handles, vs 0.0035 at 1, both trimmed).
    """
    return float(np.clip((variation / NOISY_VARIATION) ** 2, 0.1, 1.0))


SMOOTH_VARIATION = 0.02  # under every shared mesh's 20k-point cloud with 0.25 % noise (0.022–0.034)


def auto_surface_weight(variation: float) -> float:
    """Weight of mean |F| at the points: SMOOTH_VARIATION / v clipped to [1, 10], v the median surface
    variation. The fitted-sphere targets smooth over a few spacings; on a cloud nearly noise-free at its
    spacing (a raw range scan of the dragon: v = 0.003, weight 6.7) the data must outweigh them or the
    surface misses the scanner's detail (scan → surface 0.000305 × diagonal at weight 1, 0.000237 at 5,
    0.000210 at 10; Poisson 0.000117), while on the noisy synthetic clouds (v ≥ 0.022, weight 1) a weight of
    5 made the field follow the noise (spot 0.00059 → 0.00075)."""
    return float(np.clip(SMOOTH_VARIATION / max(variation, 1e-12), 1.0, 10.0))


class IGR(Method):
    Config = IGRConfig

    def configure(self, points: np.ndarray) -> None:
        super().configure(points)
        if self.cfg.pool_fit not in POOL_FITS:
            raise InputError(f"unknown pool_fit {self.cfg.pool_fit!r}; choose from {', '.join(POOL_FITS)}")
        autos = {"normal_weight": auto_normal_weight, "surface_weight": auto_surface_weight}
        autos = {key: rule for key, rule in autos.items() if getattr(self.cfg, key) == "auto"}
        if autos:  # both weights follow the cloud's noise: its surface variation, computed once
            from levelrecon.recon.data.normals import surface_variation

            v = surface_variation(points)
            self.cfg = dataclasses.replace(self.cfg, **{key: round(rule(v), 3) for key, rule in autos.items()})

    def build_model(self) -> nn.Module:
        c = self.cfg
        skip = (c.depth // 2,) if c.skip and c.depth >= 2 else ()
        return build_field(c, skip=skip)

    def setup(self, points: np.ndarray, normals: np.ndarray | None, device: torch.device,
              generator: torch.Generator) -> None:
        c = self.cfg
        self.points = torch.as_tensor(points, dtype=torch.float32, device=device)
        if normals is None and c.estimate_normals:
            normals = estimate_normals(points)
        self.normals = None if normals is None else torch.as_tensor(normals, dtype=torch.float32, device=device)
        self.sigma = torch.as_tensor(knn_scale(points, c.sigma_k), dtype=torch.float32, device=device)
        self.generator, self.device = generator, device
        self.pool: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.flipped = 0
        if normals is not None and c.pool_weight > 0:
            size = min(1_000_000, c.pool_size * len(points))
            self._pool = TargetPool.around(np.asarray(points), size, np.random.default_rng(c.seed), box=1.1,
                                           sigma=c.pool_sigma, k=c.pool_k)
            self._set_pool_targets(np.asarray(normals))

    def _set_pool_targets(self, normals: np.ndarray) -> None:
        """Targets of the fixed pool queries for these normals (the queries' neighbours are kept)."""
        s, signed = self._pool.targets(normals, self.cfg.pool_width, self.cfg.pool_fit)
        queries = self.pool[0] if self.pool is not None else torch.as_tensor(
            self._pool.queries, dtype=torch.float32, device=self.device)
        self.pool = (queries, torch.as_tensor(s, dtype=torch.float32, device=self.device),
                     torch.as_tensor(signed, device=self.device))

    def _reorient(self, model: nn.Module) -> None:
        """Flip the normals that point against ∇F and recompute the pool targets from them."""
        grad = torch.cat([field_gradient(model, chunk, create_graph=False).detach()
                          for chunk in self.points.split(65536)])
        flip = (grad * self.normals).sum(dim=1) < 0
        self.flipped = int(flip.sum())
        self.extra["normals_flipped"] = self.flipped
        if self.flipped:
            self.normals = torch.where(flip[:, None], -self.normals, self.normals)
            self._set_pool_targets(self.normals.cpu().numpy())

    def state(self) -> dict[str, Any]:
        return {"normals": self.normals.cpu(), "flipped": self.flipped} if self.flipped else {}

    def load_state(self, state: dict[str, Any]) -> None:
        if "normals" in state:
            self.normals = state["normals"].to(self.device)
            self.flipped = int(state["flipped"])
            self._set_pool_targets(state["normals"].numpy())

    def _draw(self, n: int, high: int) -> torch.Tensor:
        return torch.randint(high, (n,), generator=self.generator, device=self.generator.device).to(self.device)

    def loss(self, model: nn.Module, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.cfg
        if self.pool is not None and c.reorient_at > 0 and step == int(c.reorient_at * c.iters):
            self._reorient(model)
        idx = self._draw(c.batch, len(self.points))
        use_normals = self.normals is not None and c.normal_weight > 0
        x = self.points[idx].requires_grad_(use_normals and not hasattr(model, "fd_step"))
        local = gaussian_around(self.points[idx], self.sigma[idx], self.generator)
        far = uniform_box(max(1, c.batch // 8), -c.box, c.box, self.generator, self.device)
        f_x = model(x)[:, 0]
        surface = f_x.abs().mean()
        eik = eikonal_loss(field_gradient(model, torch.cat([local, far])))
        loss = c.surface_weight * surface + c.eikonal_weight * eik
        logs = {"surface": float(surface.detach()), "eikonal": float(eik.detach())}
        if use_normals:
            nrm = normal_loss(field_gradient(model, x, f=f_x), self.normals[idx])
            loss = loss + c.normal_weight * nrm
            logs["normal"] = float(nrm.detach())
        if self.pool is not None:
            j = self._draw(c.pool_batch, len(self.pool[0]))
            f_q = model(self.pool[0][j])[:, 0]
            pool = (torch.where(self.pool[2][j], f_q, f_q.abs()) - self.pool[1][j]).abs().mean()
            loss = loss + c.pool_weight * pool
            logs["pool"] = float(pool.detach())
        return loss, {"loss": float(loss.detach()), **logs}
