"""Command line: ``actconf run | report | notebooks | info | repair | replicate`` (thin wrappers over the API).

Paths given on the command line are relative to the working directory. Defaults lie in
actconf's data folder (``$ACTCONF_DATA``, else ``data/`` of the working directory's
project; see :mod:`actconf._paths`): ``actconf run`` writes ``data/runs/<dataset>-<model>``,
``actconf notebooks`` uses ``data/runs/notebooks``.

Exit codes: 0 success, 1 failure while working (e.g. a dataset is not available),
2 bad arguments (unknown dataset or layout method, negative epochs, unwritable or
occupied output folder, notebooks to copy over without ``--overwrite``).
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from pathlib import Path
from typing import Any

from ._paths import data_path
from .errors import ActconfError, InvalidParameterError, RunExistsError

BUILTIN_DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")


def _int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``."""
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _every(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


def _dataset(text: str) -> str:
    if text in BUILTIN_DATASETS or text.endswith(".npz"):
        return text
    raise argparse.ArgumentTypeError(
        f"unknown dataset {text!r}; choose one of {', '.join(BUILTIN_DATASETS)} or the path of an "
        ".npz file with x_train, y_train, x_test, y_test"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="actconf",
        description="Record activity and confidence while a network trains; map and analyse them.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="train + record + analyse the study headless, write a report",
                         description="Train the paper's model with the recorder, then analyse the run.")
    run.add_argument("--dataset", type=_dataset, default="digits",
                     help="digits (default, bundled), mnist, fashion_mnist, cifar10, or an .npz path")
    run.add_argument("--model", choices=("mlp", "cnn"), default="mlp", help="the paper's MLP (default) or CNN")
    run.add_argument("--epochs", type=_positive_int, default=20, help="training epochs (default 20)")
    run.add_argument("--batch-size", type=_positive_int, default=32)
    run.add_argument("--every-n-batches", type=_every, default="auto",
                     help="batch snapshots in the first epoch every K batches (default auto: ~10)")
    run.add_argument("--probe-per-class", type=_positive_int, default=50, help="probe samples per class (default 50)")
    run.add_argument("--mc-samples", type=_non_negative_int, default=10, help="MC-dropout passes per snapshot")
    run.add_argument("--max-train", type=_positive_int, default=None, help="subsample the training split")
    run.add_argument("--layout", default="umap", help="layout method for the maps (default umap)")
    run.add_argument("--seed", type=_non_negative_int, default=0)
    run.add_argument("--seeds", type=_positive_int, default=1,
                     help="train N runs (seeds --seed, --seed+1, ...) into one study folder and test the "
                          "claim across them (default 1; use 5 or more for verdicts about training)")
    run.add_argument("--data-dir", default=None, help="folder to look for dataset files first")
    run.add_argument("--out", default=None,
                     help="run directory (default data/runs/<dataset>-<model> in actconf's data "
                          "folder: $ACTCONF_DATA, else ./data)")
    run.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    run.add_argument("--record-only", action="store_true", help="stop after training + recording")
    run.add_argument("--quiet", action="store_true", help="no progress output")

    report = sub.add_parser("report", help="(re)build the HTML report of an existing run",
                            description="Write <run>/report/report.html from a recorded run.")
    report.add_argument("run", help="run directory, or a study folder of `actconf run --seeds N`")
    report.add_argument("--layer", default=None, help="layer to map (default: the first recorded)")
    report.add_argument("--layout", default=None, help="layout method if the run has no saved layout")
    report.add_argument("--measure", default="max_softmax", help="confidence measure (default max_softmax)")
    report.add_argument("--no-compare", action="store_true", help="skip the layout-method comparison")
    report.add_argument("--no-animation", action="store_true", help="skip the GIF")
    report.add_argument("--quiet", action="store_true", help="no progress output")

    nbs = sub.add_parser("notebooks", help="execute the study notebooks against a run, or copy them",
                         description="Execute notebooks 01-05 with papermill against a run; executed "
                                     "copies (and HTML) are stored in <run>/notebooks/. With --copy DIR, "
                                     "copy the notebooks into DIR to open and edit them instead.")
    nbs.add_argument("run", nargs="?", default=None,
                     help="run directory (default data/runs/notebooks in actconf's data folder); "
                          "notebook 01 records it if it does not exist yet")
    nbs.add_argument("--only", nargs="+", metavar="NOTEBOOK",
                     help="run only these, in study order: numbers or names (e.g. --only 1 3)")
    nbs.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="a notebook parameter, e.g. -p epochs 5 (VALUE is read as a Python "
                          "literal, else as text); repeatable")
    nbs.add_argument("--copy", metavar="DIR", default=None,
                     help="copy the five notebooks into DIR (created if needed); runs nothing")
    nbs.add_argument("--overwrite", action="store_true",
                     help="record the run again with notebook 01 (default: reuse an existing run); "
                          "with --copy: replace notebooks already in DIR")
    nbs.add_argument("--quiet", action="store_true", help="no progress output")

    info = sub.add_parser("info", help="print what a run holds")
    info.add_argument("run", help="run directory")

    repair = sub.add_parser("repair", help="rewrite a damaged commit log from its intact snapshots",
                            description="Rewrite <run>/snapshots.jsonl from its intact prefix (the old log is "
                                        "kept as snapshots.jsonl.<time>.bak), delete stale *.partial files, "
                                        "and list committed chunks that are missing (exit 1 if any).")
    repair.add_argument("run", help="run directory")

    layers = sub.add_parser("layers", help="list the layers of a saved .keras model that can be recorded",
                            description="One row per layer (nested models' layers included): the path that "
                                        "ActivationRecorder(layers=...) takes, output shape, neurons, what one "
                                        "neuron is, the default reduction, and whether it is recorded by default.")
    layers.add_argument("model", help="a model saved with model.save('model.keras')")
    layers.add_argument("--default", action="store_true", help="only the layers recorded by default")
    _add_replicate(sub)
    return parser


def _add_replicate(sub: Any) -> None:
    rep = sub.add_parser("replicate", help="reproduce both papers and their future work, write replication.md",
                         description="Train, record and analyse everything the two papers show (and their "
                                     "future work) and write a markdown document with figures. Resumable: "
                                     "run it again with the same --out to continue.")
    rep.add_argument("--quick", action="store_true",
                     help="few seeds/repeats/epochs on digits, overfitting on Fashion-MNIST where present "
                          "(about 20 minutes on 2 cores)")
    rep.add_argument("--dataset", nargs="+", type=_dataset, default=None, metavar="DATASET",
                     help="datasets (default: digits fashion_mnist; --quick: digits); also mnist, cifar10")
    rep.add_argument("--config", default=None, help="a replicate.json to run (e.g. a stored one: same numbers)")
    rep.add_argument("--parts", nargs="+", default=None, metavar="PART",
                     choices=("layouts", "training", "models", "overfitting", "measures"),
                     help="run only these parts (layouts, training, models, overfitting, measures)")
    rep.add_argument("--workers", type=_positive_int, default=None, help="parallel processes (default 2)")
    rep.add_argument("--data-dir", default=None, help="folder to look for dataset files first")
    rep.add_argument("--out", default=None, help="output folder for runs and tables (default "
                                                 "data/replicate, or data/replicate-quick)")
    rep.add_argument("--doc", default=None, help="the markdown file to write (default OUT/replication.md); "
                                                 "figures go into the folder of the same name")
    rep.add_argument("--overwrite", action="store_true", help="delete an earlier replication in --out first")
    rep.add_argument("--quiet", action="store_true", help="no progress output")


def _check_out(out: Path, overwrite: bool, config: Any) -> None:
    """Fail fast (exit 2) on an output folder we cannot or must not write."""
    import tempfile

    from .study import study_targets

    study_targets(config, out, overwrite)
    parent = out.absolute()
    while not parent.exists():
        parent = parent.parent
    try:
        if not parent.is_dir():
            raise NotADirectoryError(f"{str(parent)!r} is a file")
        os.rmdir(tempfile.mkdtemp(prefix=".actconf-check-", dir=parent))
    except OSError as exc:
        raise InvalidParameterError(
            f"Cannot write the run to {str(out)!r}: {exc}. Choose another --out folder."
        ) from None


def _cmd_run(args: argparse.Namespace) -> int:
    from .study import StudyConfig, record_study, run_study

    name = Path(args.dataset).stem if args.dataset.endswith(".npz") else args.dataset
    config = StudyConfig(
        dataset=args.dataset, model=args.model, epochs=args.epochs, batch_size=args.batch_size,
        every_n_batches=args.every_n_batches, probe_per_class=args.probe_per_class,
        mc_samples=args.mc_samples, max_train=args.max_train, seed=args.seed, seeds=args.seeds,
        data_dir=args.data_dir, layout=args.layout,
    ).validate()  # every field, before anything is loaded or trained
    out = Path(args.out) if args.out else data_path("runs", f"{name}-{args.model}")
    _check_out(out, args.overwrite, config)
    verbose = 0 if args.quiet else ("auto" if sys.stdout.isatty() else 2)
    if not args.quiet:
        print(f"actconf: training {config.model} on {config.dataset} for {config.epochs} epochs, recording into {out}")
    if args.record_only:
        for run in record_study(config, out, overwrite=args.overwrite, verbose=verbose):
            print(run.summary())
        return 0
    run, report = run_study(config, out, overwrite=args.overwrite, verbose=verbose, progress=not args.quiet)
    print(run.summary())
    print(f"report: {report}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import build_report
    from .study import is_study, open_study

    runs = open_study(args.run)  # one run, or every seed of a study folder
    out = Path(args.run) / "report" if is_study(args.run) else None
    path = build_report(runs[0], layer=args.layer, method=args.layout, measure=args.measure,
                        compare=not args.no_compare, animation=not args.no_animation,
                        progress=not args.quiet, replicates=runs[1:], out=out)
    print(f"report: {path}")
    return 0


def _cmd_replicate(args: argparse.Namespace) -> int:
    import dataclasses

    from .replicate import full_config, load_config, quick_config, replicate

    if args.config:
        config = load_config(args.config)
    else:
        config = quick_config() if args.quick else full_config()
    changes = {key: value for key, value in (("datasets", args.dataset), ("parts", args.parts),
                                             ("workers", args.workers), ("data_dir", args.data_dir))
               if value is not None}
    if changes:
        config = dataclasses.replace(config, **changes).validate()
    out = Path(args.out) if args.out else data_path("replicate-quick" if config.preset == "quick" else "replicate")
    result = replicate(config, out, doc=args.doc, overwrite=args.overwrite,
                       say=(lambda text: None) if args.quiet else (lambda text: print(text, flush=True)))
    print(f"replication: {result.doc}")
    return 0


def _literal(text: str) -> Any:
    """A ``-p NAME VALUE`` value: a Python literal (5, None, [0, 0.5, 1]) or else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _copy_notebooks(args: argparse.Namespace) -> int:
    from .notebooks import copy_notebooks

    if args.run or args.only or args.parameter:
        raise InvalidParameterError(
            "--copy DIR only copies the notebooks; give either --copy DIR or a run directory "
            "(with --only / -p), not both.")
    for path in copy_notebooks(args.copy, overwrite=args.overwrite):
        print(path)
    print(f"open them with: jupyter lab {args.copy}")
    return 0


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from .notebooks import run_notebooks

    if args.copy is not None:
        return _copy_notebooks(args)
    run_dir = Path(args.run).absolute() if args.run else data_path("runs", "notebooks")
    only = None if not args.only else [int(n) if n.isdigit() else n for n in args.only]
    parameters = {name: _literal(value) for name, value in args.parameter or []}
    table = run_notebooks(run_dir, parameters=parameters, notebooks=only,
                          reuse=False if args.overwrite else None, progress=not args.quiet)
    for row in table.itertuples():
        where = row.html or row.ipynb or ""
        print(f"{row.notebook}: {row.status} ({row.seconds:.0f} s) {where}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .study import open_study

    for run in open_study(args.run):
        print(run.summary())
    return 0


def _cmd_repair(args: argparse.Namespace) -> int:
    from .store import repair_run

    report = repair_run(args.run)
    print(report.summary())
    return 1 if report.missing_chunks else 0


def _cmd_layers(args: argparse.Namespace) -> int:
    from ._layers import list_layers, load_model_for_listing

    table = list_layers(load_model_for_listing(args.model))
    if args.default:
        table = table[table["default"]]
    with __import__("pandas").option_context("display.width", 200, "display.max_rows", None,
                                             "display.max_colwidth", 60):
        print(table.to_string(index=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``actconf`` command."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"run": _cmd_run, "report": _cmd_report, "notebooks": _cmd_notebooks, "info": _cmd_info,
                "repair": _cmd_repair, "layers": _cmd_layers, "replicate": _cmd_replicate}
    try:
        return handlers[args.command](args)
    except (InvalidParameterError, RunExistsError) as exc:
        print(f"actconf {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ActconfError as exc:
        print(f"actconf {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("actconf: interrupted; completed snapshots are kept in the run directory", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
