"""Classifier benchmark (paper 1, §5): geometric SVM in the small-data regime, and L∞ robustness.

Part 1: test accuracy vs training-set size (--sizes) for the geometric SVM (Eq. 11), cross-entropy and
multi-class hinge on the same MLP (2×128 ReLU, Adam 1e-3, --svm-steps steps of batch 64), mean ± std over
--seeds seeds (each seed draws its own stratified training set and initial weights; all three losses
share them). Data: scikit-learn digits (8×8, test = a fixed 25 %) and the 10,000 MNIST test images of
DATA/mnist split into a fixed 2,000-image test part and a pool the training sets are drawn from.

Part 2: small ConvNets trained on --robust-train MNIST images (from the same pool) for --epochs epochs:
standard (cross-entropy), PGD adversarial training (Madry et al.) and the margin loss of Eq. 12, both
with 10 PGD steps per batch and ε ramped over the first 30 % of training; scored on --attack-size
held-out images by clean accuracy and L∞ PGD-40 (step 0.01, random start) with the cross-entropy and
with the margin loss at ε = 0.3.

Writes benchmarks/results/classify.{json,md} and classify_accuracy.png; times with time.perf_counter.

    nice -n 15 python benchmarks/bench_classify.py                 # data from ../shared/data
    python benchmarks/bench_classify.py /path/to/data --seeds 3 --skip-robust
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from levelrecon.classify.attacks import robust_accuracy  # noqa: E402
from levelrecon.classify.data import ClassData, load_data, split_data  # noqa: E402
from levelrecon.classify.networks import NetworkSpec  # noqa: E402
from levelrecon.classify.objectives import make_objective  # noqa: E402
from levelrecon.classify.train import epochs_to_steps, fit_and_score  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
LOSSES = {"geosvm": {"lam": 0.05, "alpha": -1.0, "ramp": 0.5}, "xent": {}, "hinge": {}}
EPS = 0.3


def svm_curve(name: str, data: ClassData, test_size: float | int, sizes: list[int], seeds: int, steps: int
              ) -> dict:
    """Test accuracy per loss and training size, over seeds; every loss sees the same draw and init."""
    spec = NetworkSpec("mlp", data.shape, data.n_classes, 128, 2)
    out: dict = {"n": len(data), "sizes": {}}
    for size in sizes:
        acc: dict[str, list[float]] = {k: [] for k in LOSSES}
        secs: dict[str, list[float]] = {k: [] for k in LOSSES}
        for seed in range(seeds):
            train, test = split_data(data, test_size=test_size, train_size=size, seed=seed)
            for loss, opts in LOSSES.items():
                res = fit_and_score(make_objective(loss, **opts), spec, train, test, steps, 64, 1e-3, seed)
                acc[loss].append(res.test_accuracy)
                secs[loss].append(res.seconds)
        out["n_test"] = len(test)
        out["sizes"][size] = {loss: {"mean": float(np.mean(v)), "std": float(np.std(v)), "runs": v,
                                     "seconds": float(np.mean(secs[loss]))} for loss, v in acc.items()}
        row = "  ".join(f"{loss} {100 * s['mean']:.1f}±{100 * s['std']:.1f}" for loss, s in out["sizes"][size].items())
        print(f"{name} n={size}: {row}", flush=True)
    return out


def robustness(data: ClassData, train_size: int, epochs: float, attack_size: int, attack_steps: int) -> dict:
    train, test = split_data(data, test_size=2000, train_size=train_size, seed=0)
    attacked = test.subset(range(attack_size))
    spec = NetworkSpec("conv", data.shape, data.n_classes, 100)
    steps = epochs_to_steps(epochs, len(train), 64)
    shared = {"eps": EPS, "steps": 10, "ramp": 0.3, "bounds": data.bounds}
    methods = {"standard": ("xent", {}), "PGD training (Madry)": ("pgd", shared),
               "margin loss (Eq. 12)": ("margin", {**shared, "lam": 3.0})}
    rows = {}
    for label, (name, opts) in methods.items():
        objective = make_objective(name, **opts)
        res = fit_and_score(objective, spec, train, test, steps, 64, 1e-3, 0)
        t0 = time.perf_counter()
        scores = robust_accuracy(res.model, attacked, EPS, attack_steps, step_size=0.01, seed=0)
        rows[label] = {**scores, "test_accuracy_2000": res.test_accuracy, "train_seconds": res.seconds,
                       "attack_seconds": time.perf_counter() - t0, "objective": objective.to_dict()}
        print(f"{label}: {scores}  train {res.seconds:.0f}s", flush=True)
    return {"n_train": len(train), "epochs": epochs, "steps": steps, "batch": 64, "n_attacked": len(attacked),
            "attack_steps": attack_steps, "attack_step_size": 0.01, "eps": EPS, "network": spec.to_dict(),
            "methods": rows}


def plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"geosvm": "geometric SVM (Eq. 11)", "xent": "cross-entropy", "hinge": "hinge"}
    fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4), dpi=110, squeeze=False)
    for ax, (name, curve) in zip(axes[0], curves.items(), strict=True):
        rows = sorted((int(size), row) for size, row in curve["sizes"].items())  # JSON keys are strings
        sizes = [size for size, _ in rows]
        for loss in LOSSES:
            mean = np.array([row[loss]["mean"] for _, row in rows]) * 100
            std = np.array([row[loss]["std"] for _, row in rows]) * 100
            ax.errorbar(sizes, mean, yerr=std, marker="o", capsize=3, label=labels[loss])
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.set_xlabel("training examples")
        ax.set_ylabel(f"test accuracy (%) on {curve['n_test']} images")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def markdown(results: dict) -> str:
    lines = ["# Classifier benchmark (paper 1, §5)", "",
             f"Machine: {results['machine']}; torch {results['torch']}, {results['threads']} thread(s); "
             f"load average at start {results['load_start']}; total {results['seconds']:.0f} s.", ""]
    if "svm" in results:
        p = results["svm_protocol"]
        lines += ["## Test accuracy vs training-set size", "",
                  f"MLP 2×128 ReLU, Adam 1e-3, {p['steps']} steps of batch 64 (full batch below 64), mean ± std "
                  f"over {p['seeds']} seeds (training draw and initial weights; shared by the three losses). "
                  f"Geometric SVM: λ = 0.05 ramped over the first half, α = −1, L∞ distances. "
                  "MNIST: the 10,000 test images split into a fixed 2,000-image test part and an 8,000-image "
                  "pool; digits: a fixed 25 % test part.", "",
                  "| data | train size | geometric SVM | cross-entropy | hinge | s/run (geo / xent / hinge) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, curve in results["svm"].items():
            for size, row in curve["sizes"].items():
                cells = [f"{100 * row[k]['mean']:.1f} ± {100 * row[k]['std']:.1f}" for k in LOSSES]
                best = max(LOSSES, key=lambda k: row[k]["mean"])
                cells[list(LOSSES).index(best)] = f"**{cells[list(LOSSES).index(best)]}**"
                secs = " / ".join(f"{row[k]['seconds']:.1f}" for k in LOSSES)
                lines.append(f"| {name} | {size} | " + " | ".join(cells) + f" | {secs} |")
        lines += ["", "![accuracy vs size](classify_accuracy.png)", ""]
    if "robust" in results:
        r = results["robust"]
        lines += ["## L∞ robustness at ε = 0.3 (MNIST, pixels in [0, 1])", "",
                  f"Training budget (CPU-sized, far below the paper's): {r['n_train']} MNIST images (from the "
                  f"t10k file), {r['epochs']:g} epochs = {r['steps']} Adam steps of batch {r['batch']}, ConvNet "
                  f"(two 5×5 stride-2 convolutions with 16/32 channels, 100 hidden units). PGD training and the "
                  f"margin loss use 10 PGD steps per batch and ramp ε from 0 over the first 30 % of training. "
                  f"Attacks: PGD-{r['attack_steps']}, step {r['attack_step_size']}, random start, on "
                  f"{r['n_attacked']} held-out images; 'worst' = correct under both attacks.", "",
                  "| training | clean | Xent-PGD | margin-PGD | worst | train s |", "|---|---:|---:|---:|---:|---:|"]
        for label, m in r["methods"].items():
            lines.append(f"| {label} | {100 * m['clean']:.1f} | {100 * m['xent_pgd']:.1f} | "
                         f"{100 * m['margin_pgd']:.1f} | {100 * m['worst']:.1f} | {m['train_seconds']:.0f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--sizes", default="50,100,200,500")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--svm-steps", type=int, default=300)
    ap.add_argument("--robust-train", type=int, default=6000)
    ap.add_argument("--epochs", type=float, default=15)
    ap.add_argument("--attack-size", type=int, default=1000)
    ap.add_argument("--attack-steps", type=int, default=40)
    ap.add_argument("--skip-svm", action="store_true")
    ap.add_argument("--skip-robust", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="1 is fastest on a shared 2-core machine")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out_dir = REPO / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "torch": torch.__version__,
                     "threads": args.threads, "load_start": [round(v, 1) for v in os.getloadavg()]}
    mnist = load_data("mnist", args.data)
    if not args.skip_svm:
        sizes = [int(s) for s in args.sizes.split(",")]
        results["svm_protocol"] = {"sizes": sizes, "seeds": args.seeds, "steps": args.svm_steps, "losses": LOSSES}
        results["svm"] = {"digits": svm_curve("digits", load_data("digits"), 0.25, sizes, args.seeds, args.svm_steps),
                          "MNIST": svm_curve("MNIST", mnist, 2000, sizes, args.seeds, args.svm_steps)}
        plot(results["svm"], out_dir / "classify_accuracy.png")
    if not args.skip_robust:
        results["robust"] = robustness(mnist, args.robust_train, args.epochs, args.attack_size, args.attack_steps)
    results["seconds"] = time.perf_counter() - t0
    (out_dir / "classify.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "classify.md").write_text(markdown(results))
    print(f"done in {results['seconds']:.0f} s -> {out_dir / 'classify.md'}")


if __name__ == "__main__":
    main()
