"""Build the report's sections from the collected context and render HTML and Markdown.

Sections are plain data (titles, paragraphs, tables, figures) built here once; the two
templates only lay them out. The HTML environment autoescapes everything; the Markdown template
passes every cell through :func:`pipeline.report.safe.md`.

Section order follows the model card of Mitchell et al. (2019). Areas owned by other modules
(``pipeline/report/sections_<area>.py`` exposing ``build(ctx) -> Section``) are plugged in by
:func:`plugin`: while such a module is absent, a basic built-in section (or a 'not run' notice)
stands in its slot, so a section never silently vanishes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipeline.audit.gate import checks, gate, label
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
    return Section(
        key, title, [f"The '{stage}' stage has not run or does not apply to this configuration."], available=False
    )


def plugin(
    ctx: dict, area: str, key: str, title: str, stage: str, fallback: Callable[[dict], Section] | None = None
) -> Section:
    """The section built by ``pipeline.report.sections_<area>``; ``fallback`` (or 'not run') while it is absent.

    Only the absence of that very module is tolerated: an import error inside it is a bug and is raised.
    """
    name = f"pipeline.report.sections_{area}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise
        return fallback(ctx) if fallback else not_run(key, title, stage)
    section = module.build(ctx)
    return section if section is not None else not_run(key, title, stage)


# --- sections this module owns -------------------------------------------------------------------


def model_details(ctx: dict) -> Section:
    cfg, train, meta = ctx["cfg"], ctx["train"], ctx["meta"] or {}
    t = cfg["train"]
    rows = [
        [
            "Model",
            f"Multilayer perceptron, hidden layers {t['hidden']}, ReLU, softmax over {len(meta.get('classes', [])) or '?'} classes",
        ],
        [
            "Training",
            f"Adam, learning rate {t['lr']}, at most {t['epochs']} epochs, batch {t['batch_size']}, seed {cfg['seed']}",
        ],
        [
            "Framework",
            "PyTorch Lightning; weights saved as a state_dict (models/model.pt), logged to MLflow in the pt2 (torch.export) format",
        ],
        [
            "Registry",
            f"Registered as '{cfg['tracking']['model_name']}'; the alias 'audited' moves to a version only when every fairness check passes",
        ],
    ]
    if train:
        rows.append(["Parameters", fmt((train.get("cost") or {}).get("parameters"))])
    return Section("model-details", "Model details", tables=[("", Table(["Item", "Value"], rows))])


def intended_use(ctx: dict) -> Section:
    meta = ctx["meta"] or {}
    classes = ", ".join(map(str, meta.get("classes", [])))
    return Section(
        "intended-use",
        "Intended use",
        [
            f"Predicts the class ({classes}) of a row of the '{meta.get('source', '?')}' data, for research on auditing "
            "methods and for demonstrating this audit. Favourable outcome: "
            f"'{meta.get('favourable', '?')}'.",
            "Out of scope: decisions about individual people (credit, hiring, housing, benefits). Any such use needs its "
            "own data, legal and domain review, and a new audit.",
        ],
    )


def factors(ctx: dict) -> Section:
    meta = ctx["meta"] or {}
    sensitive = [str(s) for s in meta.get("sensitive", [])]
    as_inputs = "are" if meta.get("sensitive_as_features") else "are not"
    paragraphs = [
        f"Audited sensitive attributes: {', '.join(sensitive) or 'none'}"
        + (" and their intersection" if len(sensitive) > 1 else "")
        + ". They are protected characteristics under common anti-discrimination law, and historical data about them "
        "carries past discrimination that a model can learn and repeat.",
        f"They {as_inputs} model inputs (data.sensitive_as_features); even when they are not, other columns can act as "
        "proxies for them, which is why outcomes are measured per group.",
    ]
    tables = []
    data = ctx["data"] or {}
    test_groups = ((data.get("splits") or {}).get("test") or {}).get("groups") or {}
    for column, counts in test_groups.items():
        tables.append((f"Test rows by {column}", Table(["Group", "Rows"], [[g, fmt(n)] for g, n in counts.items()])))
    return Section("factors", "Factors", paragraphs, tables)


def metrics_section(ctx: dict) -> Section:
    ev = ctx["evaluate"]
    if not ev:
        return not_run("metrics", "Metrics", "evaluate")
    rows = [
        [name, fmt(ev.get(name))]
        for name in ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "expected_calibration_error")
    ]
    tables = [("Overall, test split", Table(["Metric", "Value"], rows))]
    per_class = ev.get("per_class") or {}
    if per_class:
        header = ["Class", "precision", "recall", "f1", "support"]
        tables.append(
            ("Per class", Table(header, [[c, *(fmt(v.get(h)) for h in header[1:])] for c, v in per_class.items()]))
        )
    figures = []
    if ctx["roc"] is not None:
        roc = ctx["roc"]
        figures.append(
            (
                "ROC curve (test split)",
                plots.lines(
                    {"model": (roc["fpr"].tolist(), roc["tpr"].tolist())},
                    "ROC",
                    "false positive rate",
                    "true positive rate",
                    diagonal=True,
                ),
            )
        )
    if ctx["calibration"] is not None:
        c = ctx["calibration"]
        figures.append(
            (
                "Calibration (test split)",
                plots.lines(
                    {"model": (c["mean_predicted"].tolist(), c["fraction_positive"].tolist())},
                    "Calibration",
                    "mean predicted probability",
                    "fraction favourable",
                    diagonal=True,
                ),
            )
        )
    paragraphs = [
        "Accuracy alone hides errors on the smaller class and on small groups; balanced accuracy, ROC AUC and "
        "calibration are reported with it, and the group metrics under Quantitative analyses.",
        f"Measured on the test split ({fmt(ev.get('n_test'))} rows); favourable class '{ev.get('favourable_class')}'.",
    ]
    return Section("metrics", "Metrics", paragraphs, tables, figures)


def evaluation_data(ctx: dict) -> Section:
    meta, ev = ctx["meta"], ctx["evaluate"]
    if not meta:
        return not_run("evaluation-data", "Evaluation data", "prepare")
    rows = meta.get("rows") or {}
    paragraphs = [
        f"The held-out test split of '{meta.get('source')}': {fmt(rows.get('test'))} rows, never seen in training or model selection."
    ]
    tables = []
    if ev and ev.get("confusion_matrix"):
        classes = [str(c) for c in meta.get("classes", [])]
        cm = ev["confusion_matrix"]
        tables.append(("Confusion matrix (rows: actual, columns: predicted)",
                       Table(["actual \\ predicted", *classes], [[classes[i] if i < len(classes) else str(i), *(fmt(v) for v in row)] for i, row in enumerate(cm)])))  # fmt: skip
    return Section("evaluation-data", "Evaluation data", paragraphs, tables)


def training_data_basic(ctx: dict) -> Section:
    """Stand-in until ``sections_data`` (data audit and PII findings) is present."""
    meta = ctx["meta"]
    if not meta:
        return not_run("training-data", "Training data", "prepare")
    rows = [[split, fmt(n)] for split, n in (meta.get("rows") or {}).items()]
    provenance = [[name, sha] for name, sha in sorted((meta.get("provenance") or {}).items())]
    tables = [("Rows per split", Table(["Split", "Rows"], rows))]
    if provenance:
        tables.append(("Data files (sha256)", Table(["File", "sha256"], provenance)))
    paragraphs = [str(note) for note in meta.get("notes", [])] or [
        "No data-quality or PII audit output is available for this run."
    ]
    return Section("training-data", "Training data", paragraphs, tables)


def fairness_basic(ctx: dict) -> Section:
    """Stand-in until ``sections_fairness`` (intervals, verdicts, intersections) is present."""
    fair = ctx["fairness"]
    if not fair:
        return not_run("quantitative-analyses", "Quantitative analyses", "fairness")
    tables, figures = [], []
    for feature, block in (fair.get("features") or {}).items():
        header = ["Group", "count", "accuracy", "selection_rate", "tpr", "fpr"]
        groups = block.get("groups") or {}
        tables.append(
            (f"By {feature}", Table(header, [[g, *(fmt(v.get(h)) for h in header[1:])] for g, v in groups.items()]))
        )
        disp = [[k, fmt(v)] for k, v in block.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        tables.append((f"Disparities by {feature}", Table(["Measure", "Value"], disp)))
        names = list(groups)
        figures.append(
            (
                f"Selection rate by {feature}",
                plots.barh(
                    names,
                    [groups[g].get("selection_rate") or 0.0 for g in names],
                    f"Selection rate by {feature}",
                    "share predicted favourable",
                ),
            )
        )
    items = checks(fair)
    if items:
        rows = [[label(v), fmt(v.get("value")), fmt(v.get("bound")), str(v.get("status"))] for v in items]
        tables.append(("Verdicts", Table(["Check", "Value", "Bound", "Status"], rows)))
    return Section(
        "quantitative-analyses",
        "Quantitative analyses",
        [f"Favourable outcome: '{fair.get('favourable_class')}'."],
        tables,
        figures,
    )


def explain_basic(ctx: dict) -> Section:
    """Stand-in until ``sections_explain`` is present."""
    ex = ctx["explain"]
    ig = (ex or {}).get("integrated_gradients") or ((ex or {}).get("methods") or {}).get("integrated_gradients")
    if not ig:
        return not_run("interpretability", "Interpretability", "explain")
    cols = list(ig["importance"])
    table = Table(["Column", "mean |attribution|"], [[c, fmt(ig["importance"][c], 4)] for c in cols])
    figure = plots.barh(
        cols, [ig["importance"][c] for c in cols], "Integrated Gradients importance", "mean |attribution|"
    )
    return Section("interpretability", "Interpretability", [f"Integrated Gradients towards '{ex.get('target_class')}'."],
                   [("Global importance per original column", table)], [("Feature importance", figure)])  # fmt: skip


def ethics_section(ctx: dict) -> Section:
    """Bias, privacy, interpretability, compute and energy: one paragraph each, from this run's outputs."""
    g = gate(ctx["fairness"])
    meta = ctx["meta"] or {}
    if not ctx["fairness"]:
        bias = "Bias: the fairness stage has not run, so group disparities are unknown."
    elif not g.available:
        bias = "Bias: group metrics were computed but no pass/fail verdicts are available; see Quantitative analyses."
    else:
        bias = f"Bias: {g.counts.get('pass', 0)} of {sum(g.counts.values())} fairness checks pass on the test split" + (
            f"; {len(g.failed)} do not (listed under Quantitative analyses; the summary says what they mean for whom)."
            if g.failed
            else "."
        )
    privacy = ("Privacy: the data holds personal attributes of real people; "
               + ("the privacy stage measured the model's membership-inference risk (see Privacy)." if ctx["privacy"]
                  else "the privacy stage has not run, so the model's leakage of its training rows is unmeasured."))  # fmt: skip
    privacy += f" Sensitive attributes {'are' if meta.get('sensitive_as_features') else 'are not'} model inputs."
    interp = ("Interpretability: attributions per input column are reported under Interpretability; they explain the "
              "model, not the world, and correlated columns share credit." if ctx["explain"]
              else "Interpretability: the explain stage has not run.")  # fmt: skip
    tables = []
    cost = (ctx["train"] or {}).get("cost") or {}
    if cost:
        compute = "Compute and energy: the training cost below was measured on this run's hardware."
        tables.append(
            ("Compute and energy (training)", Table(["Item", "Value"], [[k, fmt(v)] for k, v in sorted(cost.items())]))
        )
    else:
        compute = "Compute and energy: the train stage has not run, so its cost is unknown."
    return Section("ethical-considerations", "Ethical considerations", [bias, privacy, interp, compute], tables)


def caveats_section(ctx: dict) -> Section:
    """Caveats derived from this run (small groups, missing stages, failed checks) plus fixed limits of the data."""
    items = []
    min_size = ctx["cfg"]["audit"]["min_group_size"]
    for feature, block in ((ctx["fairness"] or {}).get("features") or {}).items():
        small = [str(name) for name, v in (block.get("groups") or {}).items() if (v.get("count") or 0) < min_size]
        if small:
            items.append(
                f"Groups of {feature} with fewer than {min_size} test rows have wide uncertainty: {', '.join(small)}."
            )
    missing = [name for name in ("evaluate", "fairness", "explain", "privacy") if not ctx[name]]
    if missing:
        items.append(f"Stages without output in this run: {', '.join(missing)}; their sections say so.")
    g = gate(ctx["fairness"])
    if g.available and not g.passed:
        items.append(
            "Not every fairness check passed: do not deploy this version; the registry withholds the 'audited' alias."
        )
    source = (ctx["meta"] or {}).get("source")
    if source == "adult":
        items.append(
            "The Adult data comes from the 1994 US census: it does not describe today's population; re-audit on current data."
        )
    items.append(
        "Disparities are measured on one test split; they estimate, with the stated intervals, not guarantee, behaviour on new data."
    )
    return Section("caveats", "Caveats and recommendations", items)


def manifest_section(ctx: dict) -> Section:
    m = ctx["manifest"]
    git = m["git"]
    sha = git["sha"] or "not a git checkout"
    rows = [
        ["git commit", f"{sha}{' (with uncommitted changes)' if git['dirty'] else ''}"],
        ["seed", str(m["seed"])],
        ["pipeline_state", m["pipeline_state"]],
        ["MLflow run", f"the run tagged pipeline_state = {m['pipeline_state']} in experiment '{m['experiment']}'"],
    ]
    rows += [[f"package {k}", v] for k, v in m["packages"].items()]
    tables = [("Code and environment", Table(["Item", "Value"], rows))]
    provenance = [[name, sha256] for name, sha256 in sorted(((ctx["meta"] or {}).get("provenance") or {}).items())]
    if provenance:
        tables.append(("Data (sha256)", Table(["File", "sha256"], provenance)))
    lock_rows = [
        [stage, path, v["md5"], v["on_disk"]] for stage, files in m["dvc_lock"].items() for path, v in files.items()
    ]
    if lock_rows:
        tables.append(
            ("dvc.lock outputs of the upstream stages", Table(["Stage", "Path", "md5", "file on disk"], lock_rows))
        )
    paragraphs = [
        "This report is a pure function of the stage outputs and is rendered before the MLflow run exists, so it cannot "
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
    from pipeline.report import glossary

    rows = [[term, meaning] for term, meaning in glossary.entries()]
    return Section("glossary", "Glossary", ["Terms and abbreviations used in this report."],
                   [("", Table(["Term", "Meaning"], rows))])  # fmt: skip


def _titled(section: Section, title: str) -> Section:
    """Keep the model card's own section name (Mitchell et al.) whatever a plug-in calls its section."""
    if not section.title.startswith(title):
        section.title = f"{title}: {section.title[0].lower()}{section.title[1:]}"
    return section


def sections(ctx: dict) -> list[Section]:
    """The report in its readers' order: the audit's findings (fairness, explanations, privacy,
    ethics, caveats), then the data, then the model, its training and cost, the glossary and the
    manifest. Every section of Mitchell et al.'s model card is present. Plug-in areas: data,
    fairness, explain, privacy, training (see :func:`plugin`)."""
    return [
        plugin(ctx, "fairness", "quantitative-analyses", "Quantitative analyses", "fairness", fairness_basic),
        plugin(ctx, "mitigation", "mitigation", "Mitigation candidates", "mitigate"),
        plugin(ctx, "explain", "interpretability", "Interpretability", "explain", explain_basic),
        plugin(ctx, "privacy", "privacy", "Privacy", "privacy"),
        ethics_section(ctx),
        caveats_section(ctx),
        _titled(plugin(ctx, "data", "training-data", "Training data", "prepare", training_data_basic), "Training data"),
        evaluation_data(ctx),
        factors(ctx),
        intended_use(ctx),
        model_details(ctx),
        metrics_section(ctx),
        plugin(ctx, "training", "training", "Training and compute cost", "train"),
        glossary_section(ctx),
        manifest_section(ctx),
    ]


# --- the ten-second summary ----------------------------------------------------------------------


def summary(ctx: dict, built: list[Section]) -> dict:
    """The first screen: the verdict, the gating failures, and plain sentences built from this run's figures."""
    from pipeline.report import findings

    v = findings.verdict(ctx["fairness"])
    lines = findings.summary_findings(ctx)
    if v.counts:
        lines.append("Checks by status: " + ", ".join(f"{k} {n}" for k, n in v.counts.items()) + ".")
    skipped = [s.title for s in built if not s.available]
    if skipped:
        lines.append(f"Not run or not applicable: {', '.join(skipped)}.")
    return {"status": v.status, "headline": v.headline, "lines": lines, "gating_failures": v.gating_failures}


def _environment(autoescape: bool) -> Environment:
    from pipeline.report.safe import md

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=autoescape, undefined=StrictUndefined,
                      keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)  # fmt: skip
    env.filters["md"] = md
    return env


def render(ctx: dict) -> tuple[str, str]:
    """Return (html, markdown) for the collected context."""
    built = sections(ctx)
    title = f"Audit report: {ctx['meta']['source'] if ctx['meta'] else 'unknown data'}"
    values = {
        "title": title,
        "summary": summary(ctx, built),
        "sections": built,
        "params_yaml": ctx["manifest"]["params_yaml"],
    }
    html = _environment(autoescape=True).get_template("report.html").render(**values)
    markdown = _environment(autoescape=False).get_template("model_card.md").render(**values)
    return html, markdown
