"""The report's closing sections: the glossary and the reproducibility manifest (which code,
packages, params and data produced it, and the ``pipeline_state`` that finds its MLflow run)."""

from __future__ import annotations

from pipeline.report import glossary
from pipeline.report.model import Section, Table

NOT_RECORDED = (
    "The run's origin (git commit, package versions, dvc.lock hashes and pipeline_state) was not recorded: this "
    "report was rendered outside the report stage, which passes pipeline.provenance.record in."
)


def _data_hashes(ctx: dict) -> list[tuple[str, Table]]:
    provenance = [[name, sha256] for name, sha256 in sorted(((ctx["meta"] or {}).get("provenance") or {}).items())]
    return [("Data (sha256)", Table(["File", "sha256"], provenance))] if provenance else []


def manifest_section(ctx: dict) -> Section:
    """Which code, packages, params and data made this report, and how to find its MLflow run."""
    m = ctx["manifest"]
    if "pipeline_state" not in m:
        return Section("manifest", "Reproducibility manifest", [NOT_RECORDED], _data_hashes(ctx), available=False)
    git = m["git"]
    sha = git["sha"] or "not a git checkout"
    rows = [
        ["git commit", f"{sha}{' (with uncommitted changes)' if git['dirty'] else ''}"],
        ["seed", str(m["seed"])],
        ["pipeline_state", m["pipeline_state"]],
        ["MLflow run", f"the run tagged pipeline_state = {m['pipeline_state']} in experiment '{m['experiment']}'"],
    ]
    rows += [[f"package {k}", v] for k, v in m["packages"].items()]
    tables = [("Code and environment", Table(["Item", "Value"], rows)), *_data_hashes(ctx)]
    lock_rows = [
        [stage, path, v["md5"], v["on_disk"]] for stage, files in m["dvc_lock"].items() for path, v in files.items()
    ]
    if lock_rows:
        tables.append(
            ("dvc.lock outputs of the upstream stages", Table(["Stage", "Path", "md5", "file on disk"], lock_rows))
        )
    paragraphs = [
        "This report is a pure function of the stage outputs and is rendered before the MLflow run exists, so "
        "it cannot "
        "name the run id. It names instead pipeline_state, a sha256 of the params and every stage output it was built "
        "from; the log stage tags its run with that hash (and with report_sha256, the hash of this file), stores this "
        "file as the run's artifact report/audit_report.html, and writes the run id to outputs/mlflow_run.json. Find "
        "the run in the MLflow UI with the search: tags.pipeline_state = '<the hash above>'.",
    ]
    if not lock_rows:
        paragraphs.append("No dvc.lock was found: this report was rendered outside 'dvc repro'.")
    return Section("manifest", "Reproducibility manifest", paragraphs, tables)


def glossary_section(ctx: dict) -> Section:
    """Every term and abbreviation the report uses, in plain words."""
    rows = [[term, meaning] for term, meaning in glossary.entries()]
    return Section(
        "glossary",
        "Glossary",
        ["Terms and abbreviations used in this report."],
        [("", Table(["Term", "Meaning"], rows))],
    )
