"""``python -m pipeline <stage> [--params params.yaml]``.

Stage modules are imported only when their stage runs, so ``--help`` and ``compare`` start in
well under a second instead of paying for torch, Lightning and MLflow.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
from pathlib import Path

from pipeline import errors

STAGES = {
    "prepare": "Load, validate, audit, split and encode the data.",
    "train": "Train the MLP with PyTorch Lightning.",
    "evaluate": "Accuracy, ROC AUC, calibration and test predictions.",
    "fairness": "Group metrics, disparities, intervals and verdicts (fairlearn).",
    "mitigate": "Mitigated candidates of the network (fairlearn), each audited like the original.",
    "explain": "Attributions with captum, by column and by group.",
    "privacy": "Membership-inference attack on the trained model.",
    "report": "Render reports/audit_report.html and reports/model_card.md.",
    "log": "Log the run to MLflow and gate the model registry.",
    "gate": "Exit 5 naming the failed gating checks, 0 when the audit policy passes (run after dvc repro).",
}

#: Stages that talk to MLflow: the tracking server is probed before anything else happens.
TRACKED_STAGES = frozenset({"log"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="path to params.yaml")
    sub = parser.add_subparsers(dest="stage", required=True, metavar="<stage>")
    for name, help_text in STAGES.items():
        sub.add_parser(name, help=help_text)
    compare = sub.add_parser(
        "compare", help="What changed between two runs: accuracy, disparities, verdicts (not a stage)."
    )
    compare.add_argument("a", help="'workspace', a DVC experiment name, a git revision or an MLflow run id")
    compare.add_argument("b", help="the same kinds as A")
    compare.add_argument("--out", default=None, help="Markdown file to write (default reports/compare.md)")
    return parser


def _terminate(signum, frame):  # noqa: ARG001 - signal handler signature
    """Turn SIGTERM into KeyboardInterrupt so ``finally`` blocks and MLflow run status run.

    Later SIGTERMs are ignored: the shutdown has started, and an interrupt raised inside it (a
    library's clean-up, our own ``except`` block) would escape as an unhandled KeyboardInterrupt.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")


def scrub(message: str) -> str:
    """Hide credentials in any message (see :func:`pipeline.tracking.scrub_text`)."""
    from pipeline.tracking import scrub_text

    return scrub_text(message)


def _producers() -> dict[Path, str]:
    """Which stage writes each upstream file or folder (``paths`` is the one table of them)."""
    from pipeline import contracts, paths

    table = {
        **{path: stage for path, (_, stage) in contracts.CONTRACTS.items()},  # meta.json and every metrics file
        **{path: stage for stage, path in paths.MANIFESTS.items()},
        paths.PREPARED_DIR: "prepare",
        paths.MODEL_DIR: "train",
        paths.TRAIN_CURVES: "train",
        paths.PREDICTIONS: "evaluate",
        paths.CANDIDATES_DIR: "mitigate",
        paths.CANDIDATE_DECISIONS: "mitigate",
        paths.REPORT_HTML: "report",
        paths.MODEL_CARD: "report",
    }
    # the most specific path first: models/candidates/ is written by mitigate, the rest of models/ by train
    return dict(sorted(table.items(), key=lambda item: -len(item[0].parts)))


def missing_upstream(err: FileNotFoundError) -> errors.BadInputError | None:
    """A missing file another stage writes: the user ran this stage too early; name the stage to run first."""
    if not err.filename:
        return None
    try:
        rel = Path(os.path.abspath(err.filename)).relative_to(Path.cwd())
    except ValueError:
        return None
    for produced, stage in _producers().items():
        if rel == produced or produced in rel.parents:
            return errors.BadInputError(
                f"{rel} does not exist: it is written by the '{stage}' stage; run "
                f"`python -m pipeline {stage}` first (or `dvc repro`, which runs the stages in order)"
            )
    return None


def run(argv: list[str] | None = None) -> int:
    """Run one stage and map its outcome to the exit codes documented in :mod:`pipeline.errors`."""
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        from pipeline import io

        io.set_write_root(Path.cwd())  # before anything writes, `compare --out` included
        if args.stage == "compare":
            from pipeline import compare

            return compare.main(args.a, args.b, args.out)
        from pipeline import config

        cfg = config.load(args.params)
        if args.stage in TRACKED_STAGES:  # probe before the stage's heavy imports: fail in seconds, log nothing
            from pipeline import tracking

            tracking.check_reachable(tracking.resolve_uri(), cfg.tracking.timeout_s)
        module = importlib.import_module(f"pipeline.stages.{args.stage}")
        module.main(cfg)
    except errors.PipelineError as err:
        print(scrub(f"error [{type(err).__name__}]: {err}"), file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break the clean exit
        print(f"{args.stage}: interrupted", file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    except FileNotFoundError as err:
        early = missing_upstream(err)
        if early is None:
            return _unexpected()
        print(scrub(f"error [{type(early).__name__}]: {early}"), file=sys.stderr)
        return early.exit_code
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):  # a full disk outside io.* (e.g. MLflow's store)
            return _unexpected()
        print(scrub(f"error [StorageError]: {err}; free some space and run the stage again"), file=sys.stderr)
        return errors.EXIT_STORAGE
    except Exception:
        return _unexpected()
    return errors.EXIT_OK


def _unexpected() -> int:
    """A bug, not bad input: keep the traceback, but never with a credential in it."""
    import traceback

    print(scrub(traceback.format_exc()), file=sys.stderr)
    return errors.EXIT_UNEXPECTED
