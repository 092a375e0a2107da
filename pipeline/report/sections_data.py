"""Report section: the data audit (who is in the data, base rates, proxies), the PII scan with
why each flagged column was excluded, k-anonymity, and accuracy per group over all classes."""

from __future__ import annotations

from pipeline.report.model import Section, Table, not_run
from pipeline.report.safe import fmt

KEY, TITLE = "data-audit", "Data audit and personal data"


def _group_tables(audit: dict) -> list[tuple[str, Table]]:
    tables = []
    for feature, block in audit["groups"].items():
        rows = [
            [g, fmt(v["count"]), fmt(v["share"]), fmt(v["base_rate"]), "yes" if v["small"] else "no"]
            for g, v in block.items()
        ]
        header = [
            "Group",
            "Rows",
            "Share",
            f"Base rate of '{audit['favourable']}'",
            f"Under {audit['min_group_size']} rows",
        ]
        tables.append((f"Groups by {feature}", Table(header, rows)))
    return tables


def _proxy_tables(audit: dict) -> list[tuple[str, Table]]:
    tables = []
    for attribute, block in audit["proxies"].items():
        rows = [
            [r["feature"], fmt(r["cramers_v"]), fmt(r.get("adjusted_mutual_info", r.get("normalized_mutual_info")))]
            for r in block["associations"][:8]
        ]
        tables.append(
            (
                f"Strongest proxies for {attribute}",
                Table(["Feature", "Cramér's V (bias-corrected)", "Adjusted mutual information"], rows),
            )
        )
    return tables


def _pii_paragraphs(pii: dict) -> list[str]:
    findings = pii["findings"]
    if not findings:
        return ["The PII scan flagged no column as a direct identifier (by column name or value pattern)."]
    lines = []
    for f in findings:
        if f.get("excluded"):
            why = "excluded from the model's inputs (data.pii.exclude) because it identifies people directly"
        elif not f["excludable"]:
            why = (
                "kept because it is a configured sensitive column the audit needs; it is never a model input "
                "unless data.sensitive_as_features"
            )
        else:
            why = "NOT excluded because data.pii.exclude is false"
        lines.append(f"Column '{f['column']}' looks like {f['reason']}: {why}.")
    return lines


def _k_table(k: dict) -> Table:
    rows = [
        ["Quasi-identifiers", ", ".join(k["quasi_identifiers"]) or "none present"],
        ["Not in the data", ", ".join(k["missing_quasi_identifiers"]) or "none"],
        ["k", fmt(k["k"])],
        ["Smallest equivalence class", fmt(k["smallest_class"])],
        ["Rows in classes smaller than k", fmt(k["rows_in_classes_under_k"])],
        ["Share of rows in classes smaller than k", fmt(k["share_rows_under_k"])],
        ["k-anonymous", fmt(k["satisfied"])],
    ]
    return Table(["Item", "Value"], rows)


def _accuracy_tables(evaluate: dict | None) -> list[tuple[str, Table]]:
    if not evaluate or "group_accuracy" not in evaluate:
        return []
    return [
        (
            f"Accuracy over all classes by {feature}",
            Table(
                ["Group", "Test rows", "Accuracy"], [[g, fmt(v["count"]), fmt(v["accuracy"])] for g, v in block.items()]
            ),
        )
        for feature, block in evaluate["group_accuracy"].items()
    ]


def leakage_paragraphs(data: dict) -> list[str]:
    """Suspected target leakage, first: every verdict after it is computed on a model that may cheat."""
    leaks = data.get("leakage")
    if not leaks:
        return []
    suspected = leaks.get("suspected") or []
    if not suspected:
        limits = leaks.get("thresholds", {})
        probe = leaks.get("probe") or {}
        together = (
            f" Scored together by a gradient-boosting probe out of fold, the inputs reach ROC AUC "
            f"{fmt(probe['auc'])}, below the same threshold."
            if probe.get("auc") is not None
            else ""
        )
        return [
            f"Target leakage check: no input column predicts the target alone (single-feature ROC AUC below "
            f"{fmt(limits.get('auc'))} and normalised mutual information below {fmt(limits.get('nmi'))} on the "
            f"training rows, and none is a function of the target).{together}"
        ]
    what = {
        "exclude": "They were removed from the model's inputs (data.leakage: exclude).",
        "warn": "They are STILL model inputs (data.leakage: warn): accuracy and every fairness verdict below "
        "describe a model that may read the answer.",
    }.get(leaks.get("action"), "")
    named = "; ".join(f"'{s['column']}' ({s['reason']}, {fmt(s['score'])})" for s in suspected)
    return [
        f"SUSPECTED TARGET LEAKAGE in {len(suspected)} column(s): {named}. {what} While any column is "
        "suspected the model is not given the 'audited' alias. If a column is known at decision time and "
        "legitimately this predictive, keep it; otherwise remove it with data.csv.drop."
    ]


def screen_paragraphs(data: dict) -> list[str]:
    """Columns the screen took out of the inputs (empty, constant, mostly empty, copies), each with its reason."""
    findings = (data.get("screen") or {}).get("findings") or []
    if not findings:
        return []
    named = "; ".join(
        f"'{f['column']}': {f['reason']}" + ("" if f["excluded"] else " (kept: data.keep_columns)") for f in findings
    )
    return [f"Columns screened out of the model's inputs: {named}."]


def _shape_paragraphs(data: dict) -> list[str]:
    """Capped columns, duplicated rows and train/test overlap, and what encodes a sensitive attribute."""
    out = []
    for c in data.get("capped_columns") or []:
        out.append(
            f"Column '{c['column']}' has {fmt(c['levels_in_training'])} levels in training: the "
            f"{fmt(c['kept'])} most frequent are kept and {fmt(c['folded_into_other'])} rarer ones share the "
            "level '<other>' (data.max_categories)."
        )
    rows = data.get("rows_quality")
    if rows:
        overlap = rows["train_test_overlap"]
        text = (
            f"{fmt(rows['duplicate_rows'])} rows duplicate an earlier row; {fmt(overlap['identical_rows'])} of "
            f"{fmt(overlap['test_rows'])} test rows also occur in the training rows "
            f"({fmt(overlap['identical_inputs'])} share their inputs with a training row)."
        )
        if overlap["identical_inputs"]:
            text += " Test metrics on those rows are measured on inputs the model has seen."
        out.append(text)
    encodings = {k: v for k, v in (data.get("sensitive_encodings") or {}).items() if v}
    for attribute, columns in encodings.items():
        out.append(f"Sensitive attribute '{attribute}' is encoded by column(s) {', '.join(columns)}.")
    inputs = data.get("sensitive_inputs")
    if inputs is not None:
        out.append("Model inputs that are or encode a sensitive attribute: " + (", ".join(inputs) or "none") + ".")
    return out


def _confusable_paragraphs(audit: dict) -> list[str]:
    """Group names that read alike (issue 25): written with escapes (``ascii``), so the difference shows
    and a text-direction control cannot reorder the sentence around it."""
    return [
        f"Sensitive column '{found['column']}': {', '.join(ascii(g) for g in found['groups'])}: "
        f"{found['reason'].split(':')[0]}."
        for found in audit.get("confusable_groups") or []
    ]


def scale_paragraphs(data: dict) -> list[str]:
    """What the ray engine (``engine.kind: ray``) computed from every row and what from the sample."""
    scale = data.get("scale")
    if not scale:
        return []
    rows = ", ".join(f"{split} {fmt(n)}" for split, n in scale["rows"].items())
    return [
        f"Engine: {scale['engine']}. Every row ({rows}) is encoded into shards ({scale['shards']}); training, "
        "the test metrics, the fairness audit and the attribution importances cover every row (count tables "
        f"and attribution sums merged over blocks; ROC AUC from score histograms). Split: {scale['split']}.",
        f"Sample: {scale['sample']}. The local explanations and the proxies' flip test, the privacy audit, the "
        "building of mitigation candidates (each then audited on every test row) and the predictions file "
        "cover that sample's rows.",
    ]


def build(ctx: dict) -> Section:
    """The data audit section, or 'not run' when prepare has not written its audit."""
    data = ctx.get("data")
    if not data or "audit" not in data:
        return not_run(KEY, TITLE, "prepare")
    audit, pii = data["audit"], data["pii"]
    classes = (ctx.get("meta") or {}).get("classes") or list(audit["class_counts"])
    near = (ctx.get("evaluate") or {}).get("near_perfect") or {}
    paragraphs = (
        ([f"SUSPECTED TARGET LEAKAGE AT THE MODEL: {near['reason']}."] if near.get("flagged") else [])
        + scale_paragraphs(data)
        + leakage_paragraphs(data)
        + screen_paragraphs(data)
        + [
            f"{audit['n_rows']} rows before splitting; favourable class '{audit['favourable']}' "
            f"with base rate {fmt(audit['base_rate'])}."
        ]
    )
    if len(classes) > 2:
        paragraphs.append(
            f"The target has {len(classes)} classes. Fairness metrics defined only for a binary outcome "
            f"(selection rate, TPR, FPR, parity and odds differences) compare '{audit['favourable']}' against all "
            "other classes; accuracy per group below counts every class."
        )
    small = audit["small_groups"]
    if small:
        paragraphs.append(
            f"{len(small)} group(s) have fewer than {audit['min_group_size']} rows (audit.min_group_size); "
            "their rates are too noisy to compare: "
            + ", ".join(f"{s['feature']}={s['group']} ({s['count']})" for s in small)
            + "."
        )
    paragraphs += _confusable_paragraphs(audit)
    paragraphs += _shape_paragraphs(data)
    paragraphs += _pii_paragraphs(pii)
    missing = [[c, fmt(v["count"]), fmt(v["share"])] for c, v in audit["missing"].items() if v["count"]]
    tables = [("Class counts", Table(["Class", "Rows"], [[c, fmt(n)] for c, n in audit["class_counts"].items()]))]
    tables += _group_tables(audit) + _proxy_tables(audit)
    tables.append(
        ("Missing values per column", Table(["Column", "Missing", "Share"], missing or [["(none)", "0", fmt(0.0)]]))
    )
    if pii["findings"]:
        rows = [
            [f["column"], f["reason"], fmt(f["match_rate"]), "yes" if f.get("excluded") else "no"]
            for f in pii["findings"]
        ]
        tables.append(
            (
                "Possible direct identifiers (values never shown)",
                Table(["Column", "Why flagged", "Match rate", "Excluded"], rows),
            )
        )
    tables.append(("k-anonymity over the quasi-identifiers", _k_table(pii["k_anonymity"])))
    tables += _accuracy_tables(ctx.get("evaluate"))
    return Section(KEY, TITLE, paragraphs, tables)
