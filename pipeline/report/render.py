"""Build the report's sections from the collected context and render HTML and Markdown.

Sections are plain data (titles, paragraphs, tables, figures) built here once; the two
templates only lay them out. The HTML environment autoescapes everything; the Markdown template
passes every cell through :func:`pipeline.report.safe.md`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipeline.report import plots
from pipeline.report.safe import fmt

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    key: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, Table]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (caption, inline svg)
    available: bool = True


def not_run(key: str, title: str, stage: str) -> Section:
    return Section(key, title, [f"The '{stage}' stage has not run or does not apply to this configuration."], available=False)


def model_details(ctx: dict) -> Section:
    cfg, train = ctx["cfg"], ctx["train"]
    rows = [
        ["Architecture", f"MLP, hidden layers {cfg['train']['hidden']}, ReLU, softmax over classes"],
        ["Training", f"Adam lr {cfg['train']['lr']}, {cfg['train']['epochs']} epochs max, batch {cfg['train']['batch_size']}, seed {cfg['seed']}"],
        ["Framework", "PyTorch Lightning; weights saved as a state_dict"],
    ]
    if train:
        rows.append(["Parameters", fmt(train["cost"]["parameters"])])
    return Section("model-details", "Model details", tables=[("", Table(["Item", "Value"], rows))])


def intended_use(ctx: dict) -> Section:
    meta = ctx["meta"] or {}
    classes = ", ".join(map(str, meta.get("classes", [])))
    return Section(
        "intended-use",
        "Intended use",
        [
            f"Predicts the class ({classes}) of a row of the '{meta.get('source', '?')}' data for research and audit purposes. "
            "It is not validated for decisions about individuals: any such use needs its own legal and domain review.",
        ],
    )


def factors(ctx: dict) -> Section:
    meta = ctx["meta"] or {}
    sensitive = ", ".join(map(str, meta.get("sensitive", [])))
    as_inputs = "are" if meta.get("sensitive_as_features") else "are not"
    return Section(
        "factors",
        "Factors",
        [
            f"Audited sensitive attributes: {sensitive} and their intersection. They are protected characteristics under "
            f"common anti-discrimination law; they {as_inputs} model inputs (data.sensitive_as_features).",
        ],
    )


def metrics_section(ctx: dict) -> Section:
    ev = ctx["evaluate"]
    if not ev:
        return not_run("metrics", "Metrics", "evaluate")
    rows = [[name, fmt(ev.get(name))] for name in ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "expected_calibration_error")]
    figures = []
    if ctx["roc"] is not None:
        figures.append(("ROC curve (test split)", plots.lines({"model": (ctx["roc"]["fpr"].tolist(), ctx["roc"]["tpr"].tolist())}, "ROC", "FPR", "TPR", diagonal=True)))
    if ctx["calibration"] is not None:
        c = ctx["calibration"]
        figures.append(("Calibration (test split)", plots.lines({"model": (c["mean_predicted"].tolist(), c["fraction_positive"].tolist())}, "Calibration", "mean predicted", "fraction favourable", diagonal=True)))
    return Section("metrics", "Metrics", [f"On the test split ({ev['n_test']} rows); favourable class '{ev['favourable_class']}'."],
                   tables=[("", Table(["Metric", "Value"], rows))], figures=figures)


def data_section(ctx: dict) -> Section:
    meta, data = ctx["meta"], ctx["data"]
    if not meta:
        return not_run("training-data", "Training and evaluation data", "prepare")
    rows = [[split, fmt(n)] for split, n in meta["rows"].items()]
    provenance = [[name, sha] for name, sha in sorted(meta.get("provenance", {}).items())]
    paragraphs = [str(note) for note in meta.get("notes", [])]
    tables = [("Rows per split", Table(["Split", "Rows"], rows))]
    if provenance:
        tables.append(("Data files (sha256 of the uncompressed content)", Table(["File", "sha256"], provenance)))
    if data and "splits" in data:
        for column, counts in data["splits"]["test"]["groups"].items():
            tables.append((f"Test rows by {column}", Table(["Group", "Rows"], [[g, fmt(n)] for g, n in counts.items()])))
    return Section("training-data", "Training and evaluation data", paragraphs, tables)


def fairness_section(ctx: dict) -> Section:
    fair = ctx["fairness"]
    if not fair:
        return not_run("quantitative-analyses", "Quantitative analyses", "fairness")
    tables, figures = [], []
    for feature, block in fair["features"].items():
        header = ["Group", "count", "accuracy", "selection_rate", "tpr", "fpr"]
        rows = [[g, *(fmt(v.get(h)) for h in header[1:])] for g, v in block["groups"].items()]
        tables.append((f"By {feature}", Table(header, rows)))
        disp = [[k, fmt(block[k])] for k in ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference")]
        tables.append((f"Disparities by {feature}", Table(["Measure", "Value"], disp)))
        groups = list(block["groups"])
        figures.append((f"Selection rate by {feature}", plots.barh(groups, [block["groups"][g]["selection_rate"] or 0.0 for g in groups], f"Selection rate by {feature}", "share predicted favourable")))
    return Section("quantitative-analyses", "Quantitative analyses", [f"Favourable outcome: '{fair['favourable_class']}'."], tables, figures)


def explain_section(ctx: dict) -> Section:
    ex = ctx["explain"]
    if not ex:
        return not_run("interpretability", "Interpretability", "explain")
    ig = ex["integrated_gradients"]
    cols = list(ig["importance"])
    table = Table(["Column", "mean |attribution|"], [[c, fmt(ig["importance"][c], 4)] for c in cols])
    figure = plots.barh(cols, [ig["importance"][c] for c in cols], "Integrated Gradients importance", "mean |attribution|")
    return Section(
        "interpretability", "Interpretability",
        [f"Integrated Gradients ({ig['n_steps']} steps) towards '{ex['target_class']}'; largest convergence delta {fmt(ig['convergence_delta_max_abs'], 4)}."],
        [("Global importance per original column", table)], [("Feature importance", figure)],
    )  # fmt: skip


def ethics_section(ctx: dict) -> Section:
    train = ctx["train"]
    paragraphs = [
        "Bias: see the quantitative analyses; disparities are measured on the test split only.",
        "Privacy: the training data contains personal attributes; see the privacy section where it has run.",
    ]
    tables = []
    if train:
        cost = train["cost"]
        tables.append(("Compute cost", Table(["Item", "Value"], [[k, fmt(v)] for k, v in sorted(cost.items())])))
    return Section("ethical-considerations", "Ethical considerations", paragraphs, tables)


def caveats_section(ctx: dict) -> Section:
    return Section(
        "caveats", "Caveats and recommendations",
        ["Small groups give wide uncertainty; treat their rates with care.",
         "Census data from 1994 does not describe today's population; re-audit on current data before any use."],
    )  # fmt: skip


def manifest_section(ctx: dict) -> Section:
    m = ctx["manifest"]
    git = m["git"]
    rows = [["git commit", f"{git['sha']}{' (uncommitted changes)' if git['dirty'] else ''}"], ["seed", str(m["seed"])]]
    rows += [[f"package {k}", v] for k, v in m["packages"].items()]
    lock_rows = [[stage, path, md5] for stage, files in m["dvc_lock"].items() for path, md5 in files.items()]
    tables = [("Code and environment", Table(["Item", "Value"], rows))]
    tables.append(("dvc.lock hashes", Table(["Stage", "Path", "md5"], lock_rows)))
    return Section("manifest", "Reproducibility manifest", [], tables)


def verdict_summary(ctx: dict) -> list[str]:
    lines = []
    if ctx["evaluate"]:
        lines.append(f"Accuracy on the test split: {fmt(ctx['evaluate']['accuracy'])}.")
    if ctx["fairness"]:
        for feature, block in ctx["fairness"]["features"].items():
            lines.append(f"Demographic parity difference by {feature}: {fmt(block['demographic_parity_difference'])}.")
    return lines


def _fairness(ctx: dict) -> Section:
    from pipeline.report import sections_fairness

    return sections_fairness.build(ctx)


def sections(ctx: dict) -> list[Section]:
    from pipeline.report import sections_data  # here, not at the top: sections_data imports this module

    return [
        model_details(ctx), intended_use(ctx), factors(ctx), metrics_section(ctx), data_section(ctx), sections_data.build(ctx),
        _fairness(ctx), explain_section(ctx), ethics_section(ctx), caveats_section(ctx), manifest_section(ctx),
    ]  # fmt: skip


def _environment(autoescape: bool) -> Environment:
    from pipeline.report.safe import md

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=autoescape, undefined=StrictUndefined,
                      keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)  # fmt: skip
    env.filters["md"] = md
    return env


def render(ctx: dict) -> tuple[str, str]:
    """Return (html, markdown) for the collected context."""
    built = sections(ctx)
    summary = verdict_summary(ctx)
    title = f"Audit report: {ctx['meta']['source'] if ctx['meta'] else 'unknown data'}"
    values = {"title": title, "summary": summary, "sections": built, "params_yaml": ctx["manifest"]["params_yaml"]}
    html = _environment(autoescape=True).get_template("report.html").render(**values)
    markdown = _environment(autoescape=False).get_template("model_card.md").render(**values)
    return html, markdown
