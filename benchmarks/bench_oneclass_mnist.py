"""OCSDF on MNIST, one digit vs the rest (paper Table 3), with certified AUROC.

Only the 10,000 test images are on these machines (DATA/mnist/t10k-*), so the split is the OC protocol
on them: a random --train-fraction of the digit's images train (optionally capped by --max-train), the
rest of that digit and every other digit test. Pixels scaled to [−1, 1] (the paper's range, = the
domain B); certified AUROC at the l2 radii --eps, in those units. --preset paper-mnist is the paper's
network and schedule (GPU-sized: run it with --device cuda); mnist-cpu is the CPU-sized variant whose
settings the Markdown states. Writes benchmarks/results/oneclass_mnist_<PRESET>.json and .md.

    OMP_NUM_THREADS=1 python benchmarks/bench_oneclass_mnist.py --preset mnist-cpu
    python benchmarks/bench_oneclass_mnist.py --preset paper-mnist --device cuda     # GPU
    # the paper's network on a CPU, for hours in the background: results after every digit, training
    # states after every epoch; rerun the same command to continue where it stopped
    nohup python benchmarks/bench_oneclass_mnist.py --preset paper-mnist --threads 2 --resume &
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from levelrecon.classify.data import read_idx  # noqa: E402
from levelrecon.classify.datasets import Dataset  # noqa: E402
from levelrecon.classify.ocsdf import preset_params  # noqa: E402
from levelrecon.classify.protocols import evaluate  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# l2 radii in [-1, 1] pixel units: 2 × (8, 16, 36, 72)/255 in [0, 1] units, the usual Lipschitz-robustness
# grid; see docs/oneclass.md for what could be checked against the paper.
EPS = (16 / 255, 32 / 255, 72 / 255, 144 / 255)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--preset", default="mnist-cpu", choices=["mnist-cpu", "paper-mnist"])
    ap.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--train-fraction", type=float, default=0.5)
    ap.add_argument("--max-train", type=int, default=None, help="cap on the training images per digit")
    ap.add_argument("--max-test", type=int, default=None, help="cap on the test images (random subset)")
    ap.add_argument("--set-param", action="append", default=[], metavar="KEY=VALUE",
                    help="override a preset parameter (Python literal), e.g. epochs=1")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tag", default=None, help="results file suffix [the preset name]")
    ap.add_argument("--resume", action="store_true",
                    help="keep the digits already in the results file (same settings) and continue the others "
                         "from their last epoch (training states in --state-dir)")
    ap.add_argument("--state-dir", default=None,
                    help="per-epoch training states [benchmarks/out/oneclass_mnist_<TAG>_state with --resume]")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {k: eval(v, {}) for k, v in (p.split("=", 1) for p in args.set_param)}  # noqa: S307 — script CLI
    params = {**preset_params(args.preset), **overrides, "device": args.device}
    data = Path(args.data) / "mnist"
    images = read_idx(data / "t10k-images-idx3-ubyte.gz", 3).reshape(10000, -1) / 127.5 - 1.0
    labels = read_idx(data / "t10k-labels-idx1-ubyte.gz", 1)
    tag = args.tag or args.preset
    out = REPO / "benchmarks" / "results" / f"oneclass_mnist_{tag}"
    state_dir = args.state_dir or (REPO / "benchmarks" / "out" / f"oneclass_mnist_{tag}_state" if args.resume else None)
    meta = {"preset": args.preset, "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
            "runs": args.runs, "train_fraction": args.train_fraction, "max_train": args.max_train,
            "max_test": args.max_test, "eps": list(EPS), "device": args.device, "threads": args.threads,
            "seconds": 0.0, "torch": torch.__version__, "python": sys.version.split()[0]}
    rows = finished(out.with_suffix(".json"), meta) if args.resume else []
    done = {r["digit"] for r in rows}
    if done:
        print(f"resuming: digits {sorted(done)} already in {out.with_suffix('.json')}", flush=True)
    for digit in [int(d) for d in args.digits.split(",") if d]:
        rng = np.random.default_rng(digit)  # per digit, so a resumed run draws the same subsets
        if digit in done:
            continue
        X, y = images, (labels != digit).astype(np.int64)
        if args.max_train or args.max_test:  # subsample: digit rows for training, a test subset
            normal = rng.permutation(np.flatnonzero(y == 0))
            n_train = int(round(args.train_fraction * len(normal)))
            n_train = min(n_train, args.max_train or n_train)
            others = np.setdiff1d(np.arange(len(y)), normal[:n_train])
            if args.max_test:
                others = rng.choice(others, size=min(args.max_test, len(others)), replace=False)
            keep = np.concatenate([normal[:n_train], others])
            X, y = X[keep], y[keep]
        frac = args.train_fraction if not (args.max_train or args.max_test) else \
            min(0.999, (n_train + 0.5) / max(1, int((y == 0).sum())))
        t0 = time.perf_counter()

        def tick(epoch: int, epochs: int, digit: int = digit, t0: float = t0) -> None:
            print(f"  digit {digit}: epoch {epoch}/{epochs} ({time.perf_counter() - t0:.0f} s)", flush=True)

        res = evaluate(Dataset(X, y, f"mnist-{digit}"), "oc", args.runs, EPS, ("iforest",), params,
                       train_fraction=frac, standardize=False, checkpoint_dir=state_dir,
                       on_epoch=tick if state_dir else None).summary()
        res["seconds"] = round(time.perf_counter() - t0, 1)
        res["digit"] = digit
        rows.append(res)
        print(f"digit {digit}: OCSDF {res['auroc']['ocsdf']['mean']:.3f}, IF {res['auroc']['iforest']['mean']:.3f}, "
              f"cert {[round(v['mean'], 3) for v in res['certified_auroc_ocsdf'].values()]}, L "
              f"{res['lipschitz_ocsdf']:.3f} ({res['seconds']} s)", flush=True)
        write(out, meta, rows)  # after every digit: a stopped run keeps what it finished
    write(out, meta, rows)
    print(f"done: {len(rows)} digits, {meta['seconds']:.0f} s of training and scoring -> {out.with_suffix('.md')}")


def finished(path: Path, meta: dict) -> list[dict]:
    """The digits of an earlier results file written with the same settings (else none)."""
    if not path.is_file():
        return []
    old = json.loads(path.read_text())
    same = all(old["meta"].get(k) == meta[k] for k in ("preset", "params", "runs", "train_fraction", "max_train",
                                                        "max_test", "eps"))
    return old["digits"] if same else []


def write(out: Path, meta: dict, rows: list[dict]) -> None:
    """Results JSON and Markdown, digits in order; `seconds` sums the digits' own times."""
    rows.sort(key=lambda r: r["digit"])
    meta["seconds"] = round(sum(r["seconds"] for r in rows), 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "digits": rows}, indent=1))
    out.with_suffix(".md").write_text(render(meta, rows))


def render(meta: dict, rows: list[dict]) -> str:
    eps = [f"{e:g}" for e in meta["eps"]]
    head = "| digit | train / test (anomalies) | OCSDF | Isolation Forest | " + " | ".join(
        f"cert. ε={float(e):.3f}" for e in eps) + " | Lipschitz bound | s |"
    lines = [
        f"# OCSDF on MNIST, one digit vs the rest — preset `{meta['preset']}`",
        "",
        f"AUROC, {meta['runs']} run(s) per digit. Only the MNIST *test* images are available: OC protocol on "
        f"them (training: {meta['train_fraction']:g} of the digit's images"
        + (f", at most {meta['max_train']}" if meta["max_train"] else "")
        + "; test: the rest of the digit and every other digit"
        + (f", a random {meta['max_test']} of them" if meta["max_test"] else "")
        + "). Pixels in [−1, 1]; certified AUROC at l2 radii ε in those units (ε = 2 × 8/255, 16/255, 36/255, "
        "72/255 in [0, 1] units), with the Lipschitz bound (power iteration on each convolution; 1 for the "
        "dense network's orthogonal layers). "
        f"Settings: `{json.dumps(meta['params'])}`. Device {meta['device']}, {meta['threads']} torch "
        f"thread(s); total {meta['seconds']:.0f} s.",
        "",
        head, "|" + "---|" * (len(eps) + 6),
    ]
    for r in rows:
        cert = [f"{r['certified_auroc_ocsdf'][e]['mean']:.3f}" for e in eps]
        lines.append(f"| {r['digit']} | {r['n_train']} / {r['n_test']} ({r['n_anomalies_test']}) | "
                     f"{r['auroc']['ocsdf']['mean']:.3f} | {r['auroc']['iforest']['mean']:.3f} | "
                     + " | ".join(cert) + f" | {r['lipschitz_ocsdf']:.3f} | {r['seconds']:.0f} |")
    if rows:
        mean = lambda key: np.mean([r["auroc"][key]["mean"] for r in rows])  # noqa: E731
        cert = [f"{np.mean([r['certified_auroc_ocsdf'][e]['mean'] for r in rows]):.3f}" for e in eps]
        lines.append(f"| mean | | {mean('ocsdf'):.3f} | {mean('iforest'):.3f} | " + " | ".join(cert) + " | | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
