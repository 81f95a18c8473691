"""`levelrecon oneclass`: one-class classification of tabular data with OCSDF (fit, score, eval, plot)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from levelrecon.cli import console
from levelrecon.cli.options import device_option, force_option, quiet_option, write_json


def data_options(f: Callable) -> Callable:
    f = click.option("--normal-class", metavar="LABEL",
                     help="Label of the normal class; other labels are anomalies [built-ins: 0; "
                          "0/1 labels are read as 1 = anomaly].")(f)
    return click.option("--label-column", metavar="COL",
                        help="CSV column name or index (NPY: index) holding the labels [CSV: a column named "
                             "y, label, target, class, anomaly or outlier].")(f)


def model_options(f: Callable) -> Callable:
    options = [
        click.option("--preset", type=click.Choice(["default", "paper", "paper-mnist", "mnist-cpu"]),
                     default="default", show_default=True,
                     help="paper: the OCSDF paper's tabular settings (4×512 FullSort, RMSprop, 40 epochs of "
                          "batch 128, T = 4 after a 5-epoch warm start, λ = 100, B = 10 standard deviations "
                          "per feature, m = 0.05); paper-mnist: its 28×28-image convolutional network (GPU-sized); "
                          "mnist-cpu: the same recipe on a dense 3×256 network. Options below override the "
                          "preset."),
        click.option("--width", type=click.IntRange(2), help="Hidden width [64]."),
        click.option("--depth", type=click.IntRange(1), help="Hidden layers [3]."),
        click.option("--activation", type=click.Choice(["groupsort2", "fullsort"]), help="[groupsort2]"),
        click.option("--kernels", type=click.Choice(["bjorck", "projected"]),
                     help="Orthogonal kernels: torchlip's Björck re-parametrization, or weights projected after "
                          "each step (same networks, faster on CPU) [bjorck; paper: projected]."),
        click.option("--iters", type=click.IntRange(1), help="Training steps [600]."),
        click.option("--epochs", type=click.IntRange(1), help="Train for this many passes over the rows "
                     "instead of --iters [paper: 40]."),
        click.option("--steps-per-epoch", type=click.IntRange(1),
                     help="Steps in an epoch [one pass over the rows: ceil(rows / batch)]."),
        click.option("--batch", type=click.IntRange(1), help="Data rows per step, as many negatives [256]."),
        click.option("--lr", type=click.FloatRange(0, min_open=True),
                     help="Learning rate [0.002 (Adam); paper: 0.001 (RMSprop)]."),
        click.option("--margin", type=click.FloatRange(0, min_open=True), help="HKR margin m [0.05]."),
        click.option("--lam", type=click.FloatRange(0, min_open=True), help="HKR regularization λ [100]."),
        click.option("--newton-steps", type=click.IntRange(0), help="Newton steps T per negative [4]."),
        click.option("--newton-eta", type=click.FloatRange(0, min_open=True),
                     help="Largest Newton step size η: each of the T steps is η·u/T of a Newton step, "
                          "u ~ U[0, 1] [1; MNIST presets: 20]."),
        click.option("--warmup", type=click.FloatRange(0, 1), help="Fraction of steps with uniform negatives [0.1]."),
        click.option("--domain", type=click.FloatRange(0, min_open=True),
                     help="Negatives live in [-D, D]^d (standardized units) [1.1 × max |feature|]."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


MODEL_KEYS = ("width", "depth", "activation", "kernels", "iters", "epochs", "steps_per_epoch", "batch", "lr",
              "margin", "lam", "newton_steps", "newton_eta", "warmup", "domain")


def _params(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The preset's estimator parameters, overridden by the options given; --iters drops a preset's epochs."""
    from levelrecon.classify.ocsdf import preset_params

    params = {} if kwargs.get("preset", "default") == "default" else preset_params(kwargs["preset"])
    if kwargs.get("iters") is not None:
        params.pop("epochs", None)
    if kwargs.get("domain") is not None:
        params.pop("domain_std", None)
    return {**params, **{k: kwargs[k] for k in MODEL_KEYS if kwargs.get(k) is not None}}


def _load(data: str, label_column: str | None, normal_class: str | None):  # noqa: ANN202
    from levelrecon.classify.datasets import load_dataset

    return load_dataset(data, label_column=label_column, normal_class=normal_class)


def _check_json(json_out: str | None, force: bool) -> None:
    if json_out and json_out != "-":
        from levelrecon.files import check_output

        check_output(Path(json_out), force)


@click.group(epilog="""\b
Examples:
  levelrecon oneclass eval breast_cancer --runs 5 --eps 0.1 --eps 0.5
  levelrecon oneclass fit cardio.mat --protocol oc -o cardio.pt
  levelrecon oneclass score cardio.pt cardio.mat -o scores.csv
  levelrecon oneclass plot moons.pt moons.csv -o moons.png
""")
def oneclass() -> None:
    """One-class classification with OCSDF: a 1-Lipschitz signed distance to the data's support.

    The anomaly score is −F. F is 1-Lipschitz in z-scored units, so a perturbation of l2 size ε moves a
    score by at most ε: `eval` reports the AUROC that survives any such attack (certified AUROC).
    """


@oneclass.command(epilog="""\b
Examples:
  levelrecon oneclass fit cardio.mat                    # labels present: train on the normal rows
  levelrecon oneclass fit table.csv --protocol ad -o m.pt   # every row, labels unused
  levelrecon oneclass fit wine --normal-class 1 --iters 1000 --json -
""")
@click.argument("data")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Model file [default: <DATA>_ocsdf.pt].")
@click.option("--protocol", type=click.Choice(["auto", "ad", "oc"]), default="auto", show_default=True,
              help="ad: train on every row; oc: on the rows labelled normal; auto: oc when labels exist.")
@click.option("--contamination", type=click.FloatRange(0, 0.5, min_open=True, max_open=True),
              help="Put the decision threshold at this quantile of F on the training rows [F = 0].")
@click.option("--seed", type=int, default=0, show_default=True)
@model_options
@data_options
@device_option
@force_option
@quiet_option
@click.option("--json", "json_out", metavar="FILE", help="Write a JSON summary ('-' for stdout).")
def fit(data: str, output: Path | None, protocol: str, contamination: float | None, seed: int, label_column: str | None,
        normal_class: str | None, device: str, force: bool, quiet: bool, json_out: str | None, **kwargs: Any) -> None:
    """Train an OCSDF one-class model on DATA and save it.

    DATA is a .csv, .npy, .npz or ODDS .mat file (keys X, y; y = 1 anomaly), or a built-in set: wine,
    breast_cancer, digits (one class vs the rest). Features are z-scored with the training rows.
    """
    from levelrecon.classify.ocsdf import OCSDFClassifier
    from levelrecon.device import resolve_device
    from levelrecon.files import check_output

    output = output if output is not None else Path(f"{Path(data).stem}_ocsdf.pt")
    check_output(output, force)
    _check_json(json_out, force)
    ds = _load(data, label_column, normal_class)
    used = ("oc" if ds.labeled else "ad") if protocol == "auto" else protocol
    if used == "oc" and not ds.labeled:
        from levelrecon.errors import InputError

        raise InputError(f"{ds.name}: --protocol oc trains on the rows labelled normal, the data has no labels")
    X = ds.X[ds.y == 0] if used == "oc" else ds.X
    clf = OCSDFClassifier(**_params(kwargs), contamination=contamination, seed=seed,
                          device=str(resolve_device(device)))
    t0 = time.perf_counter()
    clf.fit(X)
    seconds = time.perf_counter() - t0
    clf.save(output, force=force)
    summary = {"model": str(output), "data": ds.name, "protocol": used, "n_train": int(len(X)),
               "n_features": int(X.shape[1]), "seconds": round(seconds, 2), "lipschitz": clf.lipschitz_,
               "offset": clf.offset_, "final_loss": clf.history_[-1]["loss"], "params": clf.get_params()}
    if json_out:
        write_json(summary, json_out, force)
    if not quiet and json_out != "-":
        console.err.print(f"ocsdf: trained on {len(X)} rows × {X.shape[1]} features ({used}) in {seconds:.1f}s, "
                          f"Lipschitz bound {clf.lipschitz_:.4f} -> {output}")


@oneclass.command(epilog="""\b
Examples:
  levelrecon oneclass score cardio.pt cardio.mat              # summary (AUROC when labelled)
  levelrecon oneclass score m.pt new_rows.csv -o scores.csv   # per-row anomaly score, F, prediction
  levelrecon oneclass score m.pt rows.npy -o - --json -
""")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("data")
@click.option("-o", "--output", metavar="FILE",
              help="Per-row scores: .csv (anomaly_score, F, anomaly 0/1) or .npy (anomaly scores); '-' for "
                   "CSV on stdout.")
@data_options
@force_option
@click.option("--json", "json_out", metavar="FILE", help="Write a JSON summary ('-' for stdout).")
def score(model: Path, data: str, output: str | None, label_column: str | None, normal_class: str | None,
          force: bool, json_out: str | None) -> None:
    """Score the rows of DATA with MODEL (higher anomaly score = more anomalous).

    DATA is read as by `oneclass fit` and must have the model's number of features.
    """
    import numpy as np

    from levelrecon.classify.metrics import auroc
    from levelrecon.classify.ocsdf import OCSDFClassifier
    from levelrecon.errors import InputError
    from levelrecon.files import atomic_output, check_output

    if output and output != "-":
        if Path(output).suffix.lower() not in (".csv", ".npy"):
            raise InputError(f"{output}: scores are written as .csv or .npy")
        check_output(Path(output), force)
    if output == "-" and json_out == "-":
        raise InputError("-o - and --json - both write to stdout; send one of them to a file")
    _check_json(json_out, force)
    clf = OCSDFClassifier.load(model)
    ds = _load(data, label_column, normal_class)
    f = clf.score_samples(ds.X)
    flagged = (f - clf.offset_ < 0).astype(int)
    table = np.column_stack([-f, f, flagged])
    if output == "-":
        click.echo("anomaly_score,F,anomaly")
        click.echo("\n".join(f"{a:.6g},{b:.6g},{int(c)}" for a, b, c in table))
    elif output:
        with atomic_output(Path(output), force=force) as tmp:
            if output.lower().endswith(".npy"):
                np.save(tmp, -f)
            else:
                np.savetxt(tmp, table, fmt=["%.6g", "%.6g", "%d"], delimiter=",", header="anomaly_score,F,anomaly",
                           comments="")
    summary = {"model": str(model), "data": ds.name, "n": int(len(f)), "flagged": int(flagged.sum()),
               "offset": clf.offset_, "lipschitz": clf.lipschitz_,
               "auroc": auroc(ds.y, -f) if ds.labeled and len(set(ds.y.tolist())) == 2 else None}
    if json_out:
        write_json(summary, json_out, force)
    if json_out != "-" and output != "-":
        auc = f", AUROC {summary['auroc']:.4f}" if summary["auroc"] is not None else ""
        dest = f" -> {output}" if output else ""
        console.out.print(f"{ds.name}: {len(f)} rows, {int(flagged.sum())} flagged as anomalies (F < "
                          f"{clf.offset_:g}){auc}{dest}")


@oneclass.command(name="eval", epilog="""\b
Examples:
  levelrecon oneclass eval cardio.mat                          # OC protocol, 5 runs, 3 baselines
  levelrecon oneclass eval pima.mat --protocol ad --runs 3 --eps 0.1 --eps 0.5
  levelrecon oneclass eval digits --normal-class 3 --baselines none --json -
  levelrecon oneclass eval pima.mat --protocol ad --preset paper --runs 20 --m-grid paper --baselines iforest
""")
@click.argument("data")
@click.option("--protocol", type=click.Choice(["oc", "ad"]), default="oc", show_default=True,
              help="oc: train on a split of the normal rows, test on the rest; ad: train and test on all rows.")
@click.option("--runs", type=click.IntRange(1), default=5, show_default=True, help="Seeds to average over.")
@click.option("--eps", type=click.FloatRange(0), multiple=True, default=(0.1, 0.5), show_default=True,
              help="Radii of the certified AUROC (z-scored units); repeat for several.")
@click.option("--train-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5,
              show_default=True, help="OC protocol: fraction of the normal rows used for training.")
@click.option("--baselines", default="iforest,ocsvm,lof", show_default=True,
              help="Comma-separated scikit-learn baselines (iforest, ocsvm, lof) or 'none'.")
@click.option("--seed", type=int, default=0, show_default=True, help="First seed; run r uses seed + r.")
@click.option("--m-grid", metavar="M1,M2,...",
              help="Also train at each margin m of this list ('paper': 0.01,0.05,0.2,1) and report the m with "
                   "the best average AUROC (the paper's rule: it looks at the labels) next to --margin's row.")
@model_options
@data_options
@force_option
@quiet_option
@click.option("--json", "json_out", metavar="FILE", help="Write all numbers as JSON ('-' for stdout).")
def evaluate(data: str, protocol: str, runs: int, eps: tuple[float, ...], train_fraction: float, baselines: str,
             seed: int, m_grid: str | None, label_column: str | None, normal_class: str | None, force: bool,
             quiet: bool, json_out: str | None, **kwargs: Any) -> None:
    """AUROC of OCSDF and of the baselines on labelled DATA, mean ± std over --runs seeds, and OCSDF's
    certified AUROC at each --eps.

    DATA is read as by `oneclass fit` and needs labels. Every method sees the same split, z-scored with
    the training rows.
    """
    from levelrecon.classify.protocols import METHOD_NAMES, parse_margins, sweep_margins
    from levelrecon.classify.protocols import evaluate as run_eval

    _check_json(json_out, force)
    names = () if baselines.strip().lower() == "none" else tuple(b.strip() for b in baselines.split(",") if b.strip())
    grid = parse_margins(m_grid) if m_grid else ()
    ds = _load(data, label_column, normal_class)
    params = _params(kwargs)
    with console.ProgressReporter(f"oneclass eval {ds.name}", runs, quiet=quiet or json_out == "-",
                                  lines=runs) as bar:
        result = run_eval(ds, protocol, runs, eps, names, params, train_fraction, seed,
                          on_run=lambda done, total: bar(done, total))
    summary = result.summary()
    if grid:
        with console.ProgressReporter(f"oneclass eval {ds.name}: m grid", runs * len(grid),
                                      quiet=quiet or json_out == "-", lines=runs) as bar:
            summary["m_grid"] = sweep_margins(ds, protocol, runs, grid, params, train_fraction, seed,
                                              fixed=(params.get("margin", 0.05), result),
                                              on_run=lambda done, total: bar(done, total))
    if json_out:
        write_json(summary, json_out, force)
    if json_out == "-":
        return
    table = Table(title=f"{ds.name} — {protocol.upper()} protocol, {runs} run(s): {summary['n_train']} training "
                        f"rows, {summary['n_test']} test rows ({summary['n_anomalies_test']} anomalies)",
                  title_justify="left")
    table.add_column("method")
    table.add_column("AUROC", justify="right")
    for name, stats in summary["auroc"].items():
        table.add_row(METHOD_NAMES[name], f"{stats['mean']:.4f} ± {stats['std']:.4f}")
    for e, stats in summary["certified_auroc_ocsdf"].items():
        table.add_row(f"OCSDF certified, ε = {e}", f"{stats['mean']:.4f} ± {stats['std']:.4f}")
    if grid:
        sweep = summary["m_grid"]
        for m, stats in sweep["per_m"].items():
            mark = " ← best average (paper's rule, uses the labels)" if float(m) == sweep["best_m"] else ""
            table.add_row(f"OCSDF m = {m}{mark}", f"{stats['mean']:.4f} ± {stats['std']:.4f}")
    console.out.print(table)
    console.out.print(f"Anomaly score −F; certified AUROC: worst case over l2 perturbations of size ε (z-scored "
                      f"units) with the measured Lipschitz bound {summary['lipschitz_ocsdf']:.4f}.")


@oneclass.command(epilog="""\b
Examples:
  levelrecon oneclass fit moons.csv -o moons.pt && levelrecon oneclass plot moons.pt moons.csv
  levelrecon oneclass plot moons.pt moons.csv -o fig.png --resolution 300 --force
""")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("data")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="PNG file [default: <MODEL>_contours.png].")
@click.option("--resolution", type=click.IntRange(20, 2000), default=200, show_default=True,
              help="Grid points per axis.")
@data_options
@force_option
def plot(model: Path, data: str, output: Path | None, resolution: int, label_column: str | None,
         normal_class: str | None, force: bool) -> None:
    """Contour plot of F for a model of 2-D DATA, with the data points (like the OCSDF paper's Figure 2)."""
    from levelrecon.classify.ocsdf import OCSDFClassifier
    from levelrecon.classify.plots import plot_contours
    from levelrecon.errors import InputError
    from levelrecon.files import atomic_output, check_output

    output = output if output is not None else model.with_name(model.stem + "_contours.png")
    if output.suffix.lower() != ".png":
        raise InputError(f"{output}: the plot is written as .png")
    check_output(output, force)
    clf = OCSDFClassifier.load(model)
    ds = _load(data, label_column, normal_class)
    with atomic_output(output, force=force) as tmp:
        plot_contours(clf, ds.X, ds.y, tmp, resolution, title=f"OCSDF on {ds.name}")
    console.err.print(f"contours of F on {ds.name} -> {output}")
