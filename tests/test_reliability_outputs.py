"""Outputs that cannot hurt whoever opens them, and a full disk that cannot half-write one (issue 16).

CSV cells come from the user's data (group names, labels) and end up in spreadsheets and inside the
``<script>`` block ``dvc plots show`` writes; :func:`pipeline.io.write_csv` is the one place that makes
them inert. The full-disk cases use a real tmpfs of a few KiB (``unshare -m``), not a mocked error.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from pipeline import errors, io
from tests.conftest import REPO
from tests.reliability_helpers import full_disk_available, run_on_full_disk

HOSTILE = [
    '=HYPERLINK("http://evil.example","x")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\tstarts with a tab",
    "\rstarts with a CR",
    "</script><script>document.title='PWNED'</script>",
    "<!-- hidden",
    "'quoted already",
    "&lt; literally",
]
HARMLESS = ["female", "<=50K", ">50K", "-3.5", "+7", "a-b", "x=y", ""]


def test_write_csv_neutralises_formulas_and_script_breaks_and_reads_back_exactly(tmp_path):
    frame = pd.DataFrame({"group": HOSTILE + HARMLESS, "rate": [-0.25] * len(HOSTILE + HARMLESS)})
    frame["=bad header"] = "v"
    target = tmp_path / "plots" / "rates.csv"
    io.write_csv(target, frame, float_format="%.6g")
    text = target.read_text()
    assert not re.search(r"</|<!", text, re.IGNORECASE), "a cell could close DVC's <script> block"
    cells = pd.read_csv(target, dtype=str, keep_default_na=False)  # what a spreadsheet import sees
    for column in cells.columns:
        assert not column.startswith(io._FORMULA_START), column
        for cell in cells[column]:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")) or cell in HARMLESS, cell
            assert not cell.startswith("-") or io._PLAIN_NUMBER.fullmatch(cell), cell
    raw = pd.read_csv(target)  # genuine numbers stay numbers
    assert raw["rate"].dtype.kind == "f" and (raw["rate"] == -0.25).all()
    assert list(cells["group"][len(HOSTILE) :]) == HARMLESS  # harmless text untouched, "<=50K" and "-3.5" included
    back = io.read_csv(target, dtype={"group": str}, keep_default_na=False)
    assert list(back["group"]) == HOSTILE + HARMLESS
    assert list(back.columns) == ["group", "rate", "=bad header"]


def test_write_csv_escapes_categorical_and_string_dtype_columns(tmp_path):
    frame = pd.DataFrame({"g": pd.Categorical(["=1+1", "a"]), "s": pd.array(["@x", "b"], dtype="string")})
    io.write_csv(tmp_path / "x.csv", frame)
    assert (tmp_path / "x.csv").read_text() == "g,s\n'=1+1,'@x\na,b\n"


def test_write_csv_is_atomic(tmp_path):
    target = tmp_path / "x.csv"
    io.write_csv(target, pd.DataFrame({"a": [1]}))
    before = target.read_bytes()

    class Exploding:
        def copy(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        io.write_csv(target, Exploding())
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["x.csv"]


def test_every_csv_the_project_writes_goes_through_write_csv():
    """One place escapes CSV cells: no ``to_csv`` call in ``pipeline/`` outside ``io.write_csv``."""
    offenders = [
        f"{path.relative_to(REPO)}:{n}"
        for path in sorted((REPO / "pipeline").rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if ".to_csv(" in line and path.name != "io.py"
    ]
    assert not offenders, offenders


def test_hostile_group_names_are_inert_in_prepared_groups_and_restored_on_read(tmp_path):
    """The real ``prepare`` on a CSV whose sensitive column holds formulas and a script break: the groups file is
    inert, and what the audit stages read back is the original name."""
    from tests import data_helpers
    from tests.reliability_helpers import run_stage

    frame = data_helpers.table(200)
    frame["sex"] = [HOSTILE[0], HOSTILE[6]] * 100
    path = data_helpers.write(frame, tmp_path / "credit.csv")
    params = {
        "data": {
            "source": "csv",
            "dep": str(path),
            "sensitive": ["sex"],
            "max_rows": None,
            "csv": {"path": str(path), "target": "label", "positive_label": "approved"},
        },
        "train": {"epochs": 1},
    }
    done = run_stage("prepare", tmp_path, params=params)
    assert done.returncode == 0, done.stderr
    groups = tmp_path / "data" / "prepared" / "groups_train.csv"
    text = groups.read_text()
    assert "</script" not in text.lower() and "\n=" not in text
    assert set(io.read_csv(groups, dtype=str, keep_default_na=False)["sex"]) == {HOSTILE[0], HOSTILE[6]}


needs_tmpfs = pytest.mark.skipif(not full_disk_available(), reason="cannot mount a private tmpfs here")

FULL_WRITE = """
import json, os
from pipeline import io, errors
io.write_bytes("model.pt", b"old" * 10)
try:
    io.write_bytes("model.pt", b"x" * (1 << 20))
    outcome = "written"
except errors.StorageError as err:
    outcome = f"{err.exit_code} {err}"
print(json.dumps({"outcome": outcome, "kept": open("model.pt", "rb").read() == b"old" * 10, "files": sorted(os.listdir("."))}))
"""  # noqa: E501 (script text)


@needs_tmpfs
def test_full_disk_during_an_atomic_write_keeps_the_old_file(tmp_path):
    """ENOSPC from a real, full file system: StorageError (exit 6) naming the file; the old file intact,
    no temporary left."""
    done = run_on_full_disk(tmp_path / "disk", FULL_WRITE)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["outcome"].startswith(f"{errors.EXIT_STORAGE} cannot write model.pt: No space left on device")
    assert result["kept"] and result["files"] == ["model.pt"]


FULL_CLI = """
import json, os, subprocess, sys
os.makedirs("reports")
open("params.yaml", "w").write("{}\\n")
open("reports/compare.md", "w").write("old comparison\\n")
try:
    with open("filler", "wb") as fh:
        while True:
            fh.write(b"\\0" * 4096)
            fh.flush()
except OSError:
    pass
done = subprocess.run([sys.executable, "-m", "pipeline", "compare", "workspace", "workspace"], capture_output=True, text=True)
print(json.dumps({"rc": done.returncode, "stderr": done.stderr, "kept": open("reports/compare.md").read()}))
"""  # noqa: E501 (script text)


@needs_tmpfs
def test_full_disk_through_the_cli_exits_6_with_a_message(tmp_path):
    """A command whose output does not fit: one-line message, exit 6 (not 1 with a traceback), old output kept."""
    done = run_on_full_disk(tmp_path / "disk", FULL_CLI)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["rc"] == errors.EXIT_STORAGE, result["stderr"]
    assert "error [StorageError]: cannot write reports/compare.md: No space left on device" in result["stderr"]
    assert "Traceback" not in result["stderr"]
    assert result["kept"] == "old comparison\n"
