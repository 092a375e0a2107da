# ruff: noqa: F811 - pytest fixtures imported from tests._browser
"""``dvc plots show`` on a CSV whose group name closes the ``<script>`` block (issue 16, item 5).

Real DVC renders the page, real chromium opens it. The raw ``to_csv`` file is the positive control:
its injected script does run (the title changes), so a page that keeps its title proves the escaping.
"""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline import io
from tests._browser import browser, page  # noqa: F401 - fixtures
from tests.conftest import run_dvc

pytestmark = pytest.mark.browser

PAYLOAD = "</script><script>document.title='PWNED'</script>"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Two DVC plot pages: one from ``io.write_csv``, one from plain ``to_csv``."""
    root = tmp_path_factory.mktemp("plots")
    assert run_dvc(["init", "--no-scm", "-q"], root).returncode == 0
    frame = pd.DataFrame({"group": [PAYLOAD, "=1+1", "female"], "rate": [0.1, -0.2, 0.3]})
    io.write_csv(root / "escaped.csv", frame)
    frame.to_csv(root / "raw.csv", index=False)
    pages = {}
    for name in ("escaped", "raw"):
        done = run_dvc(["plots", "show", f"{name}.csv", "-x", "group", "-y", "rate", "-o", f"out_{name}"], root)
        assert done.returncode == 0, done.stderr
        pages[name] = root / f"out_{name}" / "index.html"
    return pages


def test_dvc_plot_page_source_has_no_script_break(rendered):
    assert PAYLOAD in rendered["raw"].read_text()  # the attack reaches DVC's page unchanged without escaping
    assert "</script><script>document.title" not in rendered["escaped"].read_text()


def test_group_name_does_not_run_in_the_dvc_plot_page(rendered, page):
    page.page.goto(rendered["raw"].as_uri())
    assert page.page.title() == "PWNED"  # positive control: the injection is real
    page.page.goto(rendered["escaped"].as_uri())
    assert page.page.title() != "PWNED"
