"""``python -m pipeline <stage> [--params params.yaml]``.

Stage modules are imported only when their stage runs, so ``--help`` and ``compare`` start in
well under a second instead of paying for torch, Lightning and MLflow.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

from pipeline import errors

STAGES = {
    "prepare": "Load, validate, audit, split and encode the data.",
    "train": "Train the MLP with PyTorch Lightning.",
    "evaluate": "Accuracy, ROC AUC, calibration and test predictions.",
    "fairness": "Group metrics, disparities, intervals and verdicts (fairlearn).",
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
    compare = sub.add_parser("compare", help="What changed between two runs: accuracy, disparities, verdicts (not a stage).")
    compare.add_argument("a", help="'workspace', a DVC experiment name, a git revision or an MLflow run id")
    compare.add_argument("b", help="the same kinds as A")
    compare.add_argument("--out", default=None, help="Markdown file to write (default reports/compare.md)")
    return parser


def _terminate(signum, frame):  # noqa: ARG001 - signal handler signature
    """Turn SIGTERM into KeyboardInterrupt so ``finally`` blocks and MLflow run status run."""
    raise KeyboardInterrupt(f"signal {signum}")


def _secrets() -> list[str]:
    """Credentials that may sit in the tracking URI; they must never reach stderr or a log."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    parts = urlsplit(uri)
    found = [s for s in (parts.password, parts.username) if s]
    found += [os.environ[k] for k in ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN") if os.environ.get(k)]
    return sorted(set(found), key=len, reverse=True)


def scrub(message: str) -> str:
    """Replace every known secret in ``message`` by ``***`` (belt and braces over ``tracking.redact``)."""
    for secret in _secrets():
        message = message.replace(secret, "***")
    return message


def run(argv: list[str] | None = None) -> int:
    """Run one stage and map its outcome to the exit codes documented in :mod:`pipeline.errors`."""
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.stage == "compare":
            from pipeline import compare

            return compare.main(args.a, args.b, args.out)
        from pipeline import config, io

        io.set_write_root(Path.cwd())
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
        print(f"{args.stage}: interrupted", file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    except Exception:  # a bug, not bad input: keep the traceback, but never with a credential in it
        import traceback

        print(scrub(traceback.format_exc()), file=sys.stderr)
        return errors.EXIT_UNEXPECTED
    return errors.EXIT_OK
