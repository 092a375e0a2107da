"""Bad settings, escaping outputs and leaked secrets, through the real ``python -m pipeline`` CLI.

Each case asserts the documented exit code and that the message names the setting or file.
"""

from __future__ import annotations

import pytest

from pipeline import errors, io
from tests.conftest import tiny_params
from tests.reliability_helpers import free_port, run_stage

BAD_SETTINGS = [
    ({"train": {"epoch": 1}}, "unknown setting 'train.epoch'; did you mean 'train.epochs'?"),
    ({"trian": {"epochs": 1}}, "unknown setting 'trian'; did you mean 'train'?"),
    ({"data": {"sensitiv": ["sex"]}}, "did you mean 'data.sensitive'?"),
    ({"train": {"lr": -0.01}}, "setting 'train.lr': Input should be greater than 0 (found -0.01)"),
    ({"train": {"epochs": 0}}, "setting 'train.epochs': Input should be greater than or equal to 1 (found 0)"),
    ({"train": {"hidden": []}}, "setting 'train.hidden': give at least one hidden layer"),
    ({"train": {"hidden": [64, 0]}}, "every hidden layer needs at least 1 unit"),
    ({"data": {"val_size": 1.0}}, "setting 'data.val_size': Input should be less than 1 (found 1.0)"),
    ({"data": {"val_size": 0.5, "test_size": 0.5}}, "params.yaml: data.val_size + data.test_size must be below 1\n"),
    ({"data": {"sensitive": []}}, "name at least one sensitive column"),
]


@pytest.mark.parametrize(("extra", "expected"), BAD_SETTINGS, ids=[m[:40] for _, m in BAD_SETTINGS])
def test_bad_setting_exits_2_naming_it(tmp_path, extra, expected):
    """A wrong params.yaml is refused before any work, with exit 2 and the key (or its fix) named."""
    params = tiny_params(extra)
    if "epoch" in extra.get("train", {}):
        params["train"].pop("epochs")
    if "trian" in extra:
        params.pop("train")
    done = run_stage("train", tmp_path, params=params)
    assert done.returncode == errors.EXIT_BAD_INPUT, done.stderr
    assert expected in done.stderr
    assert "params.yaml" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_and_malformed_params_file(tmp_path):
    """No params file, invalid YAML and a YAML list each give exit 2 with the file named."""
    missing = run_stage("prepare", tmp_path)
    assert missing.returncode == errors.EXIT_BAD_INPUT and "params.yaml: params file not found" in missing.stderr
    (tmp_path / "params.yaml").write_text("train: [epochs: 1\n")
    broken = run_stage("prepare", tmp_path)
    assert broken.returncode == errors.EXIT_BAD_INPUT and "params.yaml: not valid YAML" in broken.stderr
    (tmp_path / "params.yaml").write_text("- 1\n- 2\n")
    listed = run_stage("prepare", tmp_path)
    assert listed.returncode == errors.EXIT_BAD_INPUT and "expected a mapping of sections, found list" in listed.stderr


def test_missing_upstream_output_is_a_bug_exit_1_with_traceback(tmp_path):
    """Running a stage before its inputs exist is not hidden: exit 1 and the traceback names the file."""
    (tmp_path / "params.yaml").write_text("{}\n")
    done = run_stage("evaluate", tmp_path)
    assert done.returncode == errors.EXIT_UNEXPECTED
    assert "Traceback" in done.stderr and "data/prepared/meta.json" in done.stderr


def test_write_outside_project_root_is_refused(tmp_path):
    """With the guard on (as the CLI sets it), a path escaping the root is refused and nothing is written."""
    root, outside = tmp_path / "project", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    io.set_write_root(root)
    try:
        with pytest.raises(
            errors.BadInputError, match=r"refusing to write \.\./elsewhere/x\.json: .* outside the project root"
        ):
            io.write_json("../elsewhere/x.json", {"a": 1})
        (root / "reports").symlink_to(outside, target_is_directory=True)
        with pytest.raises(errors.BadInputError, match="outside the project root"):
            io.write_text(root / "reports" / "audit_report.html", "<p>x</p>")
        io.write_json(root / "inside" / "ok.json", {"a": 1})  # inside: fine
    finally:
        io.set_write_root(None)
    assert list(outside.iterdir()) == []
    assert (root / "inside" / "ok.json").is_file()


def test_stage_with_symlinked_output_folder_exits_2(project):
    """The real prepare stage: data/prepared symlinked out of the project -> exit 2, nothing written there."""
    outside = project.parent / "outside"
    outside.mkdir()
    (project / "data" / "prepared").symlink_to(outside, target_is_directory=True)
    done = run_stage("prepare", project)
    assert done.returncode == errors.EXIT_BAD_INPUT, done.stderr
    assert "outside the project root" in done.stderr and "data/prepared" in done.stderr
    assert list(outside.iterdir()) == []


def test_unreachable_tracking_uri_fails_fast_without_leaking_credentials(project):
    """A closed port: exit 3 within 10 s, the URI named with its password hidden, the earlier output kept."""
    earlier = project / "outputs" / "mlflow_run.json"
    earlier.parent.mkdir()
    earlier.write_text('{"run_id": "earlier"}\n')
    port = free_port()
    uri = f"http://alice:s3cr3t-token@127.0.0.1:{port}"
    done = run_stage("log", project, env={"MLFLOW_TRACKING_URI": uri})
    assert done.returncode == errors.EXIT_TRACKING_UNAVAILABLE, done.stderr
    assert done.elapsed < 10, f"took {done.elapsed:.1f}s"
    assert f"http://***@127.0.0.1:{port} is unreachable" in done.stderr
    assert "s3cr3t-token" not in done.stdout + done.stderr
    assert earlier.read_text() == '{"run_id": "earlier"}\n'
    assert not (project / "mlflow.db").exists()


def test_tracking_uri_that_is_not_mlflow_exits_3(project):
    """A live HTTP server that is not MLflow (404 on /health, like a proxy or a wrong port): exit 3, not a traceback."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(project / "data"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}"
        done = run_stage("log", project, env={"MLFLOW_TRACKING_URI": uri})
    finally:
        server.shutdown()
    assert done.returncode == errors.EXIT_TRACKING_UNAVAILABLE, done.stderr
    assert f"{uri} answered HTTP 404 on /health (expected 200 from an MLflow server)" in done.stderr


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://bob:pa55@mlflow.example.org:8443/path", "https://***@mlflow.example.org:8443/path"),
        ("http://token@10.0.0.1", "http://***@10.0.0.1"),
        ("sqlite:////tmp/mlflow.db", "sqlite:////tmp/mlflow.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_redact_hides_credentials(uri, expected):
    from pipeline.tracking import redact

    assert redact(uri) == expected


def test_cli_scrub_hides_password_from_any_message(monkeypatch):
    """Tracebacks of unexpected errors go through ``scrub``: the password never reaches stderr."""
    from pipeline.cli import scrub

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://bob:pa55word@mlflow.example.org")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-123")
    assert scrub("GET https://bob:pa55word@mlflow.example.org failed; token tok-123") == (
        "GET https://***:***@mlflow.example.org failed; token ***"
    )


def test_exit_codes_are_distinct():
    codes = [errors.EXIT_OK, errors.EXIT_UNEXPECTED, errors.EXIT_BAD_INPUT, errors.EXIT_TRACKING_UNAVAILABLE,
             errors.EXIT_INTEGRITY, errors.EXIT_AUDIT_FAILED, errors.EXIT_INTERRUPTED]  # fmt: skip
    assert len(set(codes)) == len(codes)
    assert errors.ConfigError("x").exit_code == errors.EXIT_BAD_INPUT
    assert errors.IntegrityError("x").exit_code == errors.EXIT_INTEGRITY
