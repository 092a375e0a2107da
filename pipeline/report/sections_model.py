"""Report sections about the model and how it was evaluated, after the model card of Mitchell et
al. (2019): model details, intended use, factors, metrics and evaluation data."""

from __future__ import annotations

from pipeline.report import plots
from pipeline.report.model import Section, Table, not_run
from pipeline.report.safe import fmt


def model_details(ctx: dict) -> Section:
    cfg, train, meta = ctx["cfg"], ctx["train"], ctx["meta"] or {}
    t = cfg["train"]
    rows = [
        [
            "Model",
            f"Multilayer perceptron, hidden layers {t['hidden']}, ReLU, softmax over "
            f"{len(meta.get('classes', [])) or '?'} classes",
        ],
        [
            "Training",
            f"Adam, learning rate {t['lr']}, at most {t['epochs']} epochs, batch {t['batch_size']}, seed {cfg['seed']}",
        ],
        [
            "Framework",
            "PyTorch Lightning; weights saved as a state_dict (models/model.pt), logged to MLflow in the pt2 "
            "(torch.export) format",
        ],
        [
            "Registry",
            f"Registered as '{cfg['tracking']['model_name']}'; the alias 'audited' moves to a version only "
            "when every fairness check passes",
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
            f"Predicts the class ({classes}) of a row of the '{meta.get('source', '?')}' data, for research on "
            f"auditing methods and for demonstrating this audit. Favourable outcome: '{meta.get('favourable', '?')}'.",
            "Out of scope: decisions about individual people (credit, hiring, housing, benefits). Any such use needs "
            "its own data, legal and domain review, and a new audit.",
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
        f"The held-out test split of '{meta.get('source')}': {fmt(rows.get('test'))} rows, never seen in "
        "training or model selection."
    ]
    tables = []
    if ev and ev.get("confusion_matrix"):
        classes = [str(c) for c in meta.get("classes", [])]
        cm = ev["confusion_matrix"]
        tables.append(
            (
                "Confusion matrix (rows: actual, columns: predicted)",
                Table(
                    ["actual \\ predicted", *classes],
                    [[classes[i] if i < len(classes) else str(i), *(fmt(v) for v in row)] for i, row in enumerate(cm)],
                ),
            )
        )
    return Section("evaluation-data", "Evaluation data", paragraphs, tables)
