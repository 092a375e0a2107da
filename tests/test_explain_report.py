"""The interpretability and privacy report sections: built from real stage output, escaped, 'not run' when absent."""

from pipeline.report import sections_explain, sections_privacy


def test_sections_say_not_run_without_their_outputs():
    assert sections_explain.build({"explain": None}).available is False
    assert sections_privacy.build({"privacy": None}).available is False


def test_privacy_section_shows_epsilon_when_trained_with_dp():
    mia = {
        "rows_per_side": 10,
        "auc": 0.51,
        "auc_interval": [0.4, 0.6],
        "tpr_at_1pct_fpr": 0.0,
        "advantage": 0.1,
        "mean_loss_members": 0.3,
        "mean_loss_non_members": 0.31,
        "by_group": {
            "sex": {
                "<b>x</b>": {
                    "members": 5,
                    "non_members": 5,
                    "small": True,
                    "auc": 0.5,
                    "tpr_at_1pct_fpr": 0.0,
                    "advantage": 0.0,
                }
            }
        },
    }
    dp = {
        "epsilon": 1.94,
        "delta": 1e-5,
        "noise_multiplier": 1.0,
        "max_grad_norm": 1.0,
        "accountant": "rdp",
        "accuracy": 0.84,
        "demographic_parity_difference": {"sex": 0.17},
    }
    section = sections_privacy.build({"privacy": {"membership_inference": mia, "dp": dp}})
    cells = [cell for _, table in section.tables for row in table.rows for cell in row]
    assert "1.940" in cells and "0.840" in cells and "0.170" in cells
    assert "5 (small)" in cells and "<b>x</b>" in cells  # raw here; the templates escape it
    no_dp = sections_privacy.build({"privacy": {"membership_inference": mia, "dp": None}})
    assert any("without differential privacy" in p for p in no_dp.paragraphs)
