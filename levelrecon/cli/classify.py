"""`levelrecon classify`: geometric SVM, robust training and PGD attacks (paper 1, §5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from levelrecon.cli import console
from levelrecon.cli.options import device_option, force_option, quiet_option, write_json


def training_run_options(f: Callable) -> Callable:
    """Seed, data, model output, device and output switches shared by the training subcommands."""
    for option in reversed([
        click.option("--seed", type=int, default=0, show_default=True, help="Initial weights, batches, training draw."),
        data_options,
        click.option("-o", "--output", type=click.Path(path_type=Path), help="Save the trained model (.pt)."),
        device_option,
        force_option,
        quiet_option,
        click.option("--json", "json_out", metavar="FILE", help="Write a JSON summary ('-' for stdout)."),
    ]):
        f = option(f)
    return f


def data_options(f: Callable) -> Callable:
    """Where data comes from and how it is split; shared by every subcommand that reads DATA."""
    options = [
        click.option("--data-dir", type=click.Path(path_type=Path), default="data", show_default=True,
                     envvar="LEVELRECON_DATA_DIR", help="Folder holding the MNIST IDX files (or mnist/ below it)."),
        click.option("--train-size", type=click.IntRange(2), help="Training examples drawn from the pool."),
        click.option("--train-fraction", type=click.FloatRange(0, 1, min_open=True),
                     help="Fraction of the pool used for training [default: all of it]."),
        click.option("--test-size", type=click.FloatRange(0, min_open=True), default=0.25, show_default=True,
                     help="Held-out test part: a fraction (< 1) or a count."),
        click.option("--split-seed", type=int, default=0, show_default=True,
                     help="Seed of the test split (and of toy data): fixed so runs score on the same examples."),
        click.option("--toy-samples", type=click.IntRange(8), default=600, show_default=True,
                     help="Points in a 2-D toy set."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _load_split(data: str, o: dict[str, Any], seed: int):  # noqa: ANN202
    from levelrecon.classify.data import load_data, split_data

    dataset = load_data(data, o["data_dir"], seed=o["split_seed"], toy_samples=o["toy_samples"])
    test_size = o["test_size"] if o["test_size"] < 1 else int(o["test_size"])
    train, test = split_data(dataset, test_size=test_size, train_size=o["train_size"],
                             train_fraction=o["train_fraction"], seed=seed, split_seed=o["split_seed"])
    split = {"test_size": test_size, "split_seed": o["split_seed"], "toy_samples": o["toy_samples"],
             "data_dir": str(o["data_dir"])}
    return dataset, train, test, split


def _spec(dataset, arch: str | None, width: int, depth: int):  # noqa: ANN001, ANN202
    from levelrecon.classify.networks import NetworkSpec

    arch = arch or ("conv" if len(dataset.shape) == 3 else "mlp")
    return NetworkSpec(arch, dataset.shape, dataset.n_classes, width, depth)


def _device(device: str):  # noqa: ANN202
    from levelrecon.device import resolve_device

    return resolve_device(device)


def _fit(objective, spec, train, test, steps: int, batch: int, lr: float, seed: int, device, quiet: bool):  # noqa: ANN001, ANN202
    from levelrecon.classify.train import fit_and_score

    with console.ProgressReporter(f"train {objective.name}", steps, quiet=quiet) as bar:
        return fit_and_score(objective, spec, train, test, steps, batch, lr, seed, device,
                             on_step=lambda done, total, logs: bar(done, total, {"loss": logs["loss"]}))


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console.out.print(table)


def _check_model_output(output: Path | None, force: bool) -> None:
    from levelrecon.errors import InputError
    from levelrecon.files import check_output

    if output is not None:
        if output.suffix.lower() != ".pt":
            raise InputError(f"{output}: classifier checkpoints are written as .pt")
        check_output(output, force)


@click.group(epilog="""\b
Examples:
  levelrecon classify svm digits --train-size 100 --compare
  levelrecon classify robust mnist --data-dir ../shared/data --eps 0.3 -o robust.pt
  levelrecon classify attack robust.pt mnist --data-dir ../shared/data --eps 0.3 --steps 40
  levelrecon classify plot moons -o moons.png
""")
def classify() -> None:
    """Classifier tasks of "Controlling Neural Level Sets": geometric SVM and adversarial robustness.

    Decision boundaries are level sets {F_y = 0}, F_y = f_y − max_{i≠y} f_i; training samples them by
    Newton projection and moves them through the sample network.
    """


@classify.command(epilog="""\b
Examples:
  levelrecon classify svm digits                                 # geometric SVM, MLP, 400 steps
  levelrecon classify svm digits --train-size 50 --compare       # vs cross-entropy and hinge, same init
  levelrecon classify svm mnist --data-dir ../shared/data --train-size 500 --compare --json -
  levelrecon classify svm points.csv --loss hinge -o hinge.pt
""")
@click.argument("data")
@click.option("--loss", type=click.Choice(["geosvm", "xent", "hinge"]), default="geosvm", show_default=True,
              help="Training loss (geosvm: paper Eq. 11).")
@click.option("--compare", is_flag=True, help="Also train the other two losses on the same data and init.")
@click.option("--arch", type=click.Choice(["mlp", "conv"]), default="mlp", show_default=True)
@click.option("--width", type=click.IntRange(2), default=128, show_default=True, help="Hidden width.")
@click.option("--depth", type=click.IntRange(0), default=2, show_default=True, help="MLP hidden layers.")
@click.option("--steps", type=click.IntRange(1), default=400, show_default=True, help="Adam steps.")
@click.option("--batch", type=click.IntRange(1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True)
@click.option("--lam", type=click.FloatRange(0), default=0.05, show_default=True,
              help="Weight of the margin term λ·mean Δ^α (reached after the ramp).")
@click.option("--alpha", type=float, default=-1.0, show_default=True, help="Exponent α of the margin term.")
@click.option("--ramp", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Fraction of training over which λ grows linearly from 0.")
@training_run_options
def svm(data: str, loss: str, compare: bool, arch: str, width: int, depth: int, steps: int, batch: int,
        lr: float, lam: float, alpha: float, ramp: float, seed: int, output: Path | None, device: str,
        force: bool, quiet: bool, json_out: str | None, **data_opts: Any) -> None:
    """Train a classifier on DATA with the geometric soft-margin loss (or a baseline) and score it.

    The geometric SVM projects each example onto its class boundary and that point onto the ±1 level
    sets (Newton), and uses L∞ distances between them through sample networks. --compare trains all
    three losses from the same initial weights and reports test accuracy side by side.

    DATA is a built-in (digits, mnist, moons, circles, blobs) or a file: .npz with arrays x and y,
    .csv/.txt with the label in the last column, an MNIST IDX images file or a folder of them.
    """
    from levelrecon.classify.checkpoint import save_classifier
    from levelrecon.classify.objectives import make_objective

    _check_model_output(output, force)
    dataset, train, test, split = _load_split(data, data_opts, seed)
    spec = _spec(dataset, arch, width, depth)
    dev = _device(device)
    options = {"geosvm": {"lam": lam, "alpha": alpha, "ramp": ramp}, "xent": {}, "hinge": {}}
    names = [loss] + ([n for n in options if n != loss] if compare else [])
    results = []
    for name in names:
        objective = make_objective(name, **options[name])
        res = _fit(objective, spec, train, test, steps, batch, lr, seed, dev, quiet)
        results.append(res)
        if name == loss and output is not None:
            save_classifier(output, res.model, spec, {
                "data": dataset.name, "bounds": list(dataset.bounds) if dataset.bounds else None,
                "split": split, "seed": seed, "objective": objective.to_dict(), "steps": steps,
                "test_accuracy": res.test_accuracy}, force=force)
    summary = {"data": dataset.name, "n_train": len(train), "n_test": len(test), "network": spec.to_dict(),
               "steps": steps, "seed": seed, "model": str(output) if output else None,
               "results": [{"loss": r.objective.name, "options": r.objective.to_dict(),
                            "train_accuracy": r.train_accuracy, "test_accuracy": r.test_accuracy,
                            "final_loss": r.final_loss, "seconds": round(r.seconds, 2)} for r in results]}
    if json_out:
        write_json(summary, json_out, force)
    if json_out != "-":
        _table(f"{dataset.name}: {len(train)} training / {len(test)} test examples, {spec.arch}, {steps} steps",
               ["loss", "train acc", "test acc", "final loss", "seconds"],
               [[r.objective.name, f"{r.train_accuracy:.4f}", f"{r.test_accuracy:.4f}", f"{r.final_loss:.4g}",
                 f"{r.seconds:.1f}"] for r in results])
        if output is not None and not quiet:
            console.err.print(f"{loss} model -> {output}")


@classify.command(epilog="""\b
Examples:
  levelrecon classify robust mnist --data-dir ../shared/data --eps 0.3 --train-size 5000 -o margin.pt
  levelrecon classify robust mnist --data-dir ../shared/data --eps 0.3 --compare --json -
  levelrecon classify robust digits --eps 0.1 --method pgd --epochs 20
""")
@click.argument("data")
@click.option("--eps", type=click.FloatRange(0, min_open=True), required=True,
              help="L∞ radius to be robust to (MNIST pixels in [0, 1]: 0.3).")
@click.option("--method", type=click.Choice(["margin", "pgd", "standard"]), default="margin", show_default=True,
              help="margin: paper Eq. 12; pgd: Madry et al.; standard: cross-entropy.")
@click.option("--compare", is_flag=True, help="Also train the other two methods on the same data and init.")
@click.option("--arch", type=click.Choice(["mlp", "conv"]), help="[default: conv for images, else mlp]")
@click.option("--width", type=click.IntRange(2), default=100, show_default=True, help="Hidden width.")
@click.option("--depth", type=click.IntRange(0), default=2, show_default=True, help="MLP hidden layers.")
@click.option("--epochs", type=click.FloatRange(0, min_open=True), default=10, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True)
@click.option("--eps-train", type=click.FloatRange(0, min_open=True), help="Training radius [default: --eps].")
@click.option("--train-steps", type=click.IntRange(1), default=10, show_default=True,
              help="PGD steps per training batch (seeds for margin, examples for pgd).")
@click.option("--lam", type=click.FloatRange(0), default=3.0, show_default=True,
              help="margin: weight λ of correctly classified examples (wrong ones weigh 1).")
@click.option("--ramp", type=click.FloatRange(0, 1), default=0.3, show_default=True,
              help="Fraction of training over which the training radius grows from 0.")
@click.option("--attack-steps", type=click.IntRange(1), default=20, show_default=True,
              help="PGD steps of the evaluation attacks.")
@click.option("--attack-size", type=click.IntRange(1), default=1000, show_default=True,
              help="Test examples attacked (the first ones of the test part).")
@training_run_options
def robust(data: str, eps: float, method: str, compare: bool, arch: str | None, width: int, depth: int,
           epochs: float, batch: int, lr: float, eps_train: float | None, train_steps: int, lam: float,
           ramp: float, attack_steps: int, attack_size: int, seed: int, output: Path | None, device: str,
           force: bool, quiet: bool, json_out: str | None, **data_opts: Any) -> None:
    """Train a classifier robust to L∞ perturbations of size --eps and score it under PGD attacks.

    The margin method (paper Eq. 12) finds decision-boundary points of the true class near each
    example and pushes the boundary at least ε away along the axis of the largest gradient component.
    Scores: clean accuracy, and accuracy under PGD with the cross-entropy and with the margin loss.
    DATA is read as for `classify svm`.
    """
    from levelrecon.classify.attacks import robust_accuracy
    from levelrecon.classify.checkpoint import save_classifier
    from levelrecon.classify.objectives import make_objective
    from levelrecon.classify.train import epochs_to_steps

    _check_model_output(output, force)
    dataset, train, test, split = _load_split(data, data_opts, seed)
    spec = _spec(dataset, arch, width, depth)
    dev = _device(device)
    radius = eps_train if eps_train is not None else eps
    shared = {"eps": radius, "steps": train_steps, "ramp": ramp, "bounds": dataset.bounds}
    options = {"margin": ("margin", {**shared, "lam": lam}), "pgd": ("pgd", shared), "standard": ("xent", {})}
    names = [method] + ([n for n in options if n != method] if compare else [])
    steps = epochs_to_steps(epochs, len(train), batch)
    attacked = test.subset(range(min(attack_size, len(test)))).to(dev)
    rows = []
    for name in names:
        objective = make_objective(options[name][0], **options[name][1])
        res = _fit(objective, spec, train, test, steps, batch, lr, seed, dev, quiet)
        scores = robust_accuracy(res.model, attacked, eps, attack_steps, seed=seed)
        rows.append({"method": name, "objective": objective.to_dict(), "seconds": round(res.seconds, 2),
                     "final_loss": res.final_loss, "train_accuracy": res.train_accuracy,
                     "test_accuracy": res.test_accuracy, **scores})
        if name == method and output is not None:
            save_classifier(output, res.model, spec, {
                "data": dataset.name, "bounds": list(dataset.bounds) if dataset.bounds else None,
                "split": split, "seed": seed, "objective": objective.to_dict(), "steps": steps,
                "robust": scores}, force=force)
    summary = {"data": dataset.name, "n_train": len(train), "n_test": len(test), "n_attacked": len(attacked),
               "eps": eps, "attack_steps": attack_steps, "epochs": epochs, "steps": steps,
               "network": spec.to_dict(), "seed": seed, "model": str(output) if output else None, "results": rows}
    if json_out:
        write_json(summary, json_out, force)
    if json_out != "-":
        _table(f"{dataset.name}: {len(train)} training examples, {epochs:g} epochs; PGD-{attack_steps} at "
               f"ε={eps:g} on {len(attacked)} test examples",
               ["method", "clean", "Xent-PGD", "margin-PGD", "worst", "train s"],
               [[r["method"], f"{r['clean']:.4f}", f"{r['xent_pgd']:.4f}", f"{r['margin_pgd']:.4f}",
                 f"{r['worst']:.4f}", f"{r['seconds']:.1f}"] for r in rows])
        if output is not None and not quiet:
            console.err.print(f"{method} model -> {output}")


@classify.command(epilog="""\b
Examples:
  levelrecon classify attack robust.pt mnist --data-dir ../shared/data --eps 0.3 --steps 40
  levelrecon classify attack model.pt digits --eps 0.1 --steps 20 --split all --json -
""")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("data")
@click.option("--eps", type=click.FloatRange(0, min_open=True), required=True, help="L∞ radius.")
@click.option("--steps", type=click.IntRange(1), required=True, help="PGD steps.")
@click.option("--step-size", type=click.FloatRange(0, min_open=True), help="[default: 2.5·eps/steps]")
@click.option("--split", type=click.Choice(["test", "all"]), default="test", show_default=True,
              help="test: the held-out part used when the model was trained; all: every example of DATA.")
@click.option("--limit", type=click.IntRange(1), help="Attack only the first N examples.")
@click.option("--data-dir", type=click.Path(path_type=Path), envvar="LEVELRECON_DATA_DIR",
              help="Folder holding the MNIST IDX files [default: the one used in training].")
@click.option("--seed", type=int, default=0, show_default=True, help="Random starts of PGD.")
@device_option
@force_option
@click.option("--json", "json_out", metavar="FILE", help="Write the scores as JSON ('-' for stdout).")
def attack(model: Path, data: str, eps: float, steps: int, step_size: float | None, split: str, limit: int | None,
           data_dir: Path | None, seed: int, device: str, force: bool, json_out: str | None) -> None:
    """L∞ PGD against a trained classifier MODEL on DATA, with the cross-entropy and the margin loss.

    Reports clean accuracy, accuracy under each attack, and the worst case (correct under both). PGD
    starts from a random point of the ball and clips to the data's valid range (pixels: [0, 1]).
    DATA is read as for `classify svm`; --split test re-creates the held-out part stored in MODEL.
    """
    from levelrecon.classify.attacks import robust_accuracy
    from levelrecon.classify.checkpoint import load_classifier
    from levelrecon.classify.data import load_data, split_data
    from levelrecon.errors import InputError

    dev = _device(device)
    net, spec, info = load_classifier(model, dev)
    stored = info.get("split", {})
    dataset = load_data(data, data_dir if data_dir is not None else stored.get("data_dir", "data"),
                        seed=stored.get("split_seed", 0), toy_samples=stored.get("toy_samples", 600))
    n_in = 1
    for s in spec.shape:
        n_in *= s
    if dataset.x.shape[1] != n_in:
        raise InputError(f"{data}: examples have {dataset.x.shape[1]} features, {model} expects {n_in}")
    if dataset.n_classes > spec.n_classes:
        raise InputError(f"{data}: {dataset.n_classes} classes, {model} was trained on {spec.n_classes}")
    target = dataset
    if split == "test":
        _, target = split_data(dataset, test_size=stored.get("test_size", 0.25), split_seed=stored.get("split_seed", 0))
    if limit is not None:
        target = target.subset(range(min(limit, len(target))))
    scores = robust_accuracy(net, target.to(dev), eps, steps, step_size, seed=seed)
    summary = {"model": str(model), "data": dataset.name, "split": split, "n": len(target), "eps": eps,
               "steps": steps, "step_size": step_size if step_size is not None else 2.5 * eps / steps, **scores}
    if json_out:
        write_json(summary, json_out, force)
    if json_out != "-":
        _table(f"{model.name} on {dataset.name} ({split}, {len(target)} examples): PGD-{steps}, ε={eps:g}",
               ["clean", "Xent-PGD", "margin-PGD", "worst"],
               [[f"{scores['clean']:.4f}", f"{scores['xent_pgd']:.4f}", f"{scores['margin_pgd']:.4f}",
                 f"{scores['worst']:.4f}"]])


@classify.command(epilog="""\b
Examples:
  levelrecon classify plot                               # moons -> moons_level_sets.png
  levelrecon classify plot blobs -o blobs.png --steps 3000 --lam 0.1
""")
@click.argument("data", default="moons")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="PNG file [default: <DATA>_level_sets.png].")
@click.option("--width", type=click.IntRange(2), default=64, show_default=True, help="Hidden width.")
@click.option("--depth", type=click.IntRange(0), default=2, show_default=True, help="MLP hidden layers.")
@click.option("--steps", type=click.IntRange(1), default=1500, show_default=True, help="Adam steps per model.")
@click.option("--batch", type=click.IntRange(1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True)
@click.option("--lam", type=click.FloatRange(0), default=0.05, show_default=True, help="Geometric SVM λ.")
@click.option("--toy-samples", type=click.IntRange(8), default=200, show_default=True,
              help="Points in a 2-D toy set.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resolution", type=click.IntRange(20, 2000), default=300, show_default=True,
              help="Grid points per axis.")
@force_option
@quiet_option
@click.option("--json", "json_out", metavar="FILE", help="Write a JSON summary ('-' for stdout).")
def plot(data: str, output: Path | None, width: int, depth: int, steps: int, batch: int, lr: float, lam: float,
         toy_samples: int, seed: int, resolution: int, force: bool, quiet: bool, json_out: str | None) -> None:
    """Train cross-entropy and geometric SVM on 2-D DATA and draw both (paper Figure 1).

    Each panel shows the decision regions, the boundary {F_j = 0} (solid) and the level sets
    {F_j = ±1} (dashed): the geometric SVM spreads the ±1 level sets to the data, cross-entropy
    squeezes them against its boundary. DATA is a toy set (moons, circles, blobs) or a 2-D file.
    """
    from levelrecon.classify.data import load_data
    from levelrecon.classify.levelset_plots import plot_level_sets
    from levelrecon.classify.networks import NetworkSpec
    from levelrecon.classify.objectives import make_objective
    from levelrecon.errors import InputError
    from levelrecon.files import atomic_output, check_output

    dataset = load_data(data, seed=seed, toy_samples=toy_samples)
    if dataset.x.shape[1] != 2:
        raise InputError(f"{data}: plot needs 2-D data, this data has {dataset.x.shape[1]} features")
    target = output if output is not None else Path(f"{Path(dataset.name).stem}_level_sets.png")
    if target.suffix.lower() != ".png":
        raise InputError(f"{target}: the plot is written as .png")
    check_output(target, force)
    spec = NetworkSpec("mlp", dataset.shape, dataset.n_classes, width, depth)
    panels, accs = [], {}
    for name, opts in (("xent", {}), ("geosvm", {"lam": lam})):
        res = _fit(make_objective(name, **opts), spec, dataset, None, steps, batch, lr, seed, "cpu", quiet)
        label = "cross-entropy" if name == "xent" else f"geometric SVM (λ={lam:g})"
        panels.append((f"{label}: train acc {res.train_accuracy:.3f}", res.model))
        accs[name] = res.train_accuracy
    with atomic_output(target, force=force) as tmp:
        plot_level_sets(panels, dataset, tmp, resolution)
    if json_out:
        write_json({"output": str(target), "data": dataset.name, "n": len(dataset), "steps": steps,
                    "train_accuracy": accs}, json_out, force)
    if not quiet and json_out != "-":
        console.err.print(f"level sets of cross-entropy and geometric SVM on {dataset.name} -> {target}")
