"""The code's layering and the pipeline's dependency lists are checked, not trusted.

Two contracts that reviews kept missing:
- every project module a stage can import (directly or through other project modules, including
  imports inside functions) is covered by that stage's ``deps`` in ``dvc.yaml``, so an edit there
  reruns the stage instead of leaving a stale output that ``dvc status`` calls up to date; and
  nothing else is: a code dep the stage never imports would rerun it for nothing;
- the layering rules in ``.importlinter`` hold (``lint-imports`` exits 0).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ENTRY = "pipeline/cli.py"
#: Files a stage's run passes through that need not be deps, each with the reason.
EXEMPT = {
    "pipeline/__main__.py": "calls pipeline.cli.run and exits with its code; writes nothing a stage produces",
}
#: Imports the CLI makes only for other commands: `compare`, and the tracking probe of the log
#: stage (whose own imports reach pipeline.tracking, so it is checked there).
CLI_ONLY = {"pipeline.compare", "pipeline.tracking"}


def module_file(name: str) -> Path | None:
    """The source file of a ``pipeline.*`` module (package ``__init__`` or plain module)."""
    base = REPO.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


#: How an extension table names code it imports when used (pipeline/tables/data_sources.py).
LOADER_PATH = re.compile(r"pipeline(\.\w+)+:\w+")


def project_imports(path: Path) -> set[str]:
    """Every ``pipeline.*`` module that ``path`` imports anywhere in its body (lazy imports too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "pipeline"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            if base.split(".")[0] != "pipeline":
                continue
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}")}
    if "import_module" in path.read_text(encoding="utf-8"):  # loads code by the names a table holds
        for table in [t for t in found if t.startswith("pipeline.tables.")]:
            found |= loader_modules(module_file(table))
    return found


def loader_modules(table: Path | None) -> set[str]:
    """The modules an extension table names as ``"module:function"`` strings (its loaders)."""
    if table is None:
        return set()
    constants = (n.value for n in ast.walk(ast.parse(table.read_text(encoding="utf-8"))) if isinstance(n, ast.Constant))
    return {c.split(":")[0] for c in constants if isinstance(c, str) and LOADER_PATH.fullmatch(c)}


def with_parents(name: str) -> set[str]:
    """Importing ``a.b.c`` runs ``a/__init__``, ``a/b/__init__`` and ``a/b/c``."""
    parts = name.split(".")
    return {".".join(parts[: i + 1]) for i in range(len(parts))}


def closure(start: list[Path]) -> set[Path]:
    """Project files reachable from ``start`` through static imports."""
    seen: set[Path] = set()
    todo = list(start)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        names = project_imports(path)
        if path == REPO / ENTRY:
            names -= CLI_ONLY
        for name in names:
            for part in with_parents(name):
                found = module_file(part)
                if found and found not in seen:
                    todo.append(found)
    return seen


def inert(path: Path) -> bool:
    """A package ``__init__`` holding only a docstring and constants cannot change an output."""
    if path.name != "__init__.py":
        return False
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return all(
        isinstance(n, ast.Expr | ast.Assign) and not isinstance(getattr(n, "value", None), ast.Call) for n in body
    )


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(REPO)
    return any(rel == Path(d) or Path(d) in rel.parents for d in deps)


def stages() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


@pytest.mark.parametrize("stage", sorted(stages()))
def test_stage_deps_cover_every_project_module_it_imports(stage):
    spec = stages()[stage]
    cmd = spec["cmd"].split()
    assert cmd[:3] == ["python", "-m", "pipeline"], f"{stage}: unexpected command {spec['cmd']!r}"
    stage_module = module_file(f"pipeline.stages.{cmd[3]}")
    assert stage_module is not None, f"{stage}: no module pipeline/stages/{cmd[3]}.py"
    reached = closure([stage_module, REPO / ENTRY])
    deps = [str(d) for d in spec.get("deps", [])]
    rels = (str(p.relative_to(REPO)) for p in reached if not inert(p) and not covered(p, deps))
    missing = sorted(r for r in rels if r not in EXEMPT)
    assert not missing, f"dvc.yaml stage '{stage}' imports project code its deps do not list: {missing}"


def _code_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*.py") if not inert(p)]


def exact_code_deps(stage: str) -> list[str]:
    """The code deps a stage needs, no more: each reached module, or the highest folder under
    ``pipeline/`` whose every (non-inert) module the stage reaches."""
    spec = stages()[stage]
    reached = closure([module_file(f"pipeline.stages.{spec['cmd'].split()[3]}"), REPO / ENTRY])
    reached = {p for p in reached if not inert(p) and str(p.relative_to(REPO)) not in EXEMPT}
    out = set()
    for path in reached:
        best, folder = path, path.parent
        while folder != REPO / "pipeline" and all(f in reached for f in _code_files(folder)):
            best, folder = folder, folder.parent
        out.add(best)
    out = {p for p in out if not any(q != p and q in p.parents for q in out)}
    return sorted(str(p.relative_to(REPO)) for p in out)


@pytest.mark.parametrize("stage", sorted(stages()))
def test_stage_code_deps_are_exact(stage):
    """Deps under ``pipeline/`` that hold code equal what the stage imports (folders where it imports
    all of one); deps holding no code (templates, word lists) are data and not judged here."""
    listed = [
        str(d)
        for d in stages()[stage].get("deps", [])
        if str(d).startswith("pipeline/") and (str(d).endswith(".py") or any((REPO / str(d)).rglob("*.py")))
    ]
    expected = exact_code_deps(stage)
    assert sorted(listed) == expected, (
        f"dvc.yaml stage '{stage}': code deps should be exactly {expected}; "
        f"superfluous: {sorted(set(listed) - set(expected))}, missing: {sorted(set(expected) - set(listed))}"
    )


def test_the_closure_follows_lazy_imports():
    """A function-level ``from pipeline.x import y`` counts: that is how stages import heavy code."""
    reached = closure([REPO / "pipeline/cli.py"])
    assert REPO / "pipeline/errors.py" in reached
    assert REPO / "pipeline/config.py" in reached  # imported inside cli's functions


def test_layering_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "lint-imports (import-linter) is not installed: run `make setup`"
    done = subprocess.run([exe, str(REPO / ".importlinter")], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_every_top_level_module_stands_on_a_floor():
    """The ``floors`` layers contract constrains only the modules it names: a new top-level module or
    package must be placed on a floor, or nothing checks what it imports."""
    import configparser

    parser = configparser.ConfigParser()
    parser.read(REPO / ".importlinter", encoding="utf-8")
    layers = parser["importlinter:contract:floors"]["layers"]
    placed = {name.strip() for line in layers.splitlines() for name in line.split("|") if name.strip()}
    package = REPO / "pipeline"
    found = {f"pipeline.{p.stem}" for p in package.glob("*.py") if p.name != "__init__.py"}
    found |= {f"pipeline.{p.name}" for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert found <= placed, f"not on a floor in .importlinter: {sorted(found - placed)}"


def test_every_project_csv_goes_through_the_escaping_writer_and_reader():
    """``io.write_csv``/``io.read_csv`` are the one place CSV cells are escaped and restored
    (spreadsheet formulas, ``</script>`` in ``dvc plots show``); a stray ``to_csv`` bypasses it.
    Raw-data loaders (``pipeline/data``) read the user's own files and are exempt from reading."""
    offenders = []
    for path in sorted((REPO / "pipeline").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel == "pipeline/io.py":
            continue
        text = path.read_text(encoding="utf-8")
        if ".to_csv(" in text:
            offenders.append(f"{rel}: to_csv")
        if "pd.read_csv(" in text and not rel.startswith("pipeline/data/"):
            offenders.append(f"{rel}: pd.read_csv")
    assert not offenders, offenders


MARKER = "fmt: " + "skip"  # spelt in two parts so this file does not match itself


def test_code_is_formatted_by_ruff():
    """One formatter (``ruff format``, line length 120 in pyproject.toml) instead of hand layout and
    formatter-skip markers: a diff then shows what changed, not how someone aligned it."""
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent))
    assert exe, "ruff is not installed: run `make setup`"
    targets = [str(REPO / d) for d in ("pipeline", "tests", "benchmarks")]
    done = subprocess.run([exe, "format", "--check", *targets], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
    skips = [
        p for d in ("pipeline", "tests", "benchmarks") for p in (REPO / d).rglob("*.py") if MARKER in p.read_text()
    ]
    assert not skips, f"{MARKER} markers: {skips}"


def test_code_passes_ruff_lint_lines_included():
    """``ruff check`` with pyproject.toml's rules, line length included: the formatter cannot
    split long strings, so the lint keeps them at most 120 characters."""
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent))
    assert exe, "ruff is not installed: run `make setup`"
    targets = [str(REPO / d) for d in ("pipeline", "tests", "benchmarks")]
    done = subprocess.run([exe, "check", *targets], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
