"""One training loop for every classifier objective, and a fit-and-score helper for CLI and benchmarks."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from levelrecon.classify.attacks import accuracy
from levelrecon.classify.data import ClassData
from levelrecon.classify.networks import NetworkSpec, build_network
from levelrecon.classify.objectives import Objective

StepCallback = Callable[[int, int, dict[str, float]], None]


@dataclass
class TrainResult:
    model: nn.Module
    spec: NetworkSpec
    objective: Objective
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    train_accuracy: float = float("nan")
    test_accuracy: float = float("nan")

    @property
    def final_loss(self) -> float:
        return self.history[-1]["loss"] if self.history else float("nan")


def train_classifier(model: nn.Module, objective: Objective, data: ClassData, steps: int, batch_size: int = 128,
                     lr: float = 1e-3, seed: int = 0, on_step: StepCallback | None = None
                     ) -> list[dict[str, float]]:
    """Adam on shuffled mini-batches (a fresh permutation each epoch) for `steps` steps; the log per step."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    batch_size = min(batch_size, len(data))
    history: list[dict[str, float]] = []
    order = torch.empty(0, dtype=torch.long)
    for step in range(steps):
        if len(order) < batch_size:
            order = torch.randperm(len(data), generator=generator)
        idx, order = order[:batch_size].to(data.x.device), order[batch_size:]
        loss, logs = objective(model, data.x[idx], data.y[idx], step / steps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append({"step": step + 1, **logs})
        if on_step is not None:
            on_step(step + 1, steps, logs)
    return history


def epochs_to_steps(epochs: float, n: int, batch_size: int) -> int:
    return max(1, math.ceil(epochs * math.ceil(n / min(batch_size, n))))


def fit_and_score(objective: Objective, spec: NetworkSpec, train: ClassData, test: ClassData | None, steps: int,
                  batch_size: int = 128, lr: float = 1e-3, seed: int = 0, device: torch.device | str = "cpu",
                  on_step: StepCallback | None = None) -> TrainResult:
    """Build the network from `seed`, train it, and score it on train and test data.

    The same seed gives the same initial weights and batch order whatever the objective, so objectives
    are compared on equal terms.
    """
    torch.manual_seed(seed)
    model = build_network(spec).to(device)
    train = train.to(device)
    t0 = time.perf_counter()
    history = train_classifier(model, objective, train, steps, batch_size, lr, seed, on_step)
    seconds = time.perf_counter() - t0
    model.eval()
    result = TrainResult(model, spec, objective, steps, seconds, history, accuracy(model, train))
    if test is not None:
        result.test_accuracy = accuracy(model, test.to(device))
    return result
