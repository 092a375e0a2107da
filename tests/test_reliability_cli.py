"""Bad settings, escaping outputs and leaked secrets, through the real ``python -m pipeline`` CLI.

Each case asserts the documented exit code and that the message names the setting or file.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from pipeline import errors, io
from tests.conftest import tiny_params
from tests.reliability_helpers import free_port, run_stage, stage_env

BAD_SETTINGS = [
    ({"train": {"epoch": 1}}, "unknown setting 'train.epoch'; did you mean 'train.epochs'?"),
    ({"trian": {"epochs": 1}}, "unknown setting 'trian'; did you mean 'train'?"),
    ({"data": {"sensitiv": ["sex"]}}, "did you mean 'data.sensitive'?"),
    ({"train": {"lr": -0.01}}, "setting 'train.lr': Input should be greater than 0 (found -0.01)"),
    ({"train": {"epochs": 0}}, "setting 'train.epochs': Input should be greater than or equal to 1 (found 0)"),
    ({"train": {"hidden": []}}, "setting 'train.hidden': give at least one hidden layer"),
    ({"train": {"hidden": [64, 0]}}, "every hidden layer needs 1 to"),
    ({"data": {"val_size": 1.0}}, "setting 'data.val_size': Input should be less than 1 (found 1.0)"),
    ({"data": {"val_size": 0.5, "test_size": 0.5}}, "params.yaml: data.val_size + data.test_size must be below 1\n"),
    ({"data": {"sensitive": []}}, "name at least one sensitive column"),
    # issue 16, item 7: these exited 1 with a traceback (2**70), 2 blaming "too few rows" (-1) and 3 "unreachable" ("")
    ({"seed": 2**70}, "setting 'seed': Input should be less than or equal to 4294967295"),
    ({"seed": -1}, "setting 'seed': Input should be greater than or equal to 0 (found -1)"),
    ({"tracking": {"experiment": ""}}, "setting 'tracking.experiment': name the MLflow experiment"),
    # item 6: MLflow refused these only after uploading the model, leaving a FAILED run per try
    ({"tracking": {"model_name": ""}}, "setting 'tracking.model_name': a registered model name must be non-empty"),
    ({"tracking": {"model_name": "a/b"}}, "hold no '/' or ':'"),
    # issue 25: each of these exited 1 with a traceback (OverflowError, TypeError, ..., "can't start new thread")
    ({"tracking": {"timeout_s": float("inf")}}, "setting 'tracking.timeout_s': Input should be a finite number"),
    ({"tracking": {"deadline_s": 1e9}}, "setting 'tracking.deadline_s': Input should be less than or equal to 86400"),
    ({"data": {"csv": {"encoding": "rot13"}}}, "setting 'data.csv.encoding': 'rot13' is not a text encoding"),
    ({"data": {"csv": {"encoding": "utf-99"}}}, "setting 'data.csv.encoding': unknown encoding 'utf-99'"),
    ({"data": {"csv": {"delimiter": ""}}}, "setting 'data.csv.delimiter': the delimiter must be one character"),
    ({"data": {"csv": {"delimiter": "ab"}}}, "setting 'data.csv.delimiter': the delimiter must be one character"),
    ({"train": {"num_threads": 100000}}, "setting 'train.num_threads': at most the"),
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


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n"], ids=["0 bytes", "comments only"])
def test_empty_params_file_is_refused_and_nothing_is_overwritten(tmp_path, text):
    """Issue 25: a 0-byte params.yaml exited 0, ran the defaults on Adult and overwrote data/prepared/."""
    (tmp_path / "params.yaml").write_text(text)
    (tmp_path / "data" / "prepared").mkdir(parents=True)
    mine = tmp_path / "data" / "prepared" / "train.npz"
    mine.write_bytes(b"the user's own")
    done = run_stage("prepare", tmp_path)
    assert done.returncode == errors.EXIT_BAD_INPUT, done.stderr
    assert "params.yaml: the file is empty" in done.stderr and "Traceback" not in done.stderr
    assert mine.read_bytes() == b"the user's own"


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


@pytest.mark.parametrize(
    ("stage", "produced_by", "missing"),
    [("train", "prepare", "data/prepared"), ("evaluate", "prepare", "data/prepared/meta.json")],
)
def test_stage_before_its_inputs_exits_2_naming_the_stage_to_run_first(tmp_path, stage, produced_by, missing):
    """Running a stage before its inputs exist: exit 2 naming the missing file and the stage that writes it
    (issue 16; before, exit 1 with a FileNotFoundError traceback)."""
    (tmp_path / "params.yaml").write_text("{}\n")
    done = run_stage(stage, tmp_path)
    assert done.returncode == errors.EXIT_BAD_INPUT, done.stderr
    assert "Traceback" not in done.stderr
    assert missing in done.stderr and f"run `python -m pipeline {produced_by}` first" in done.stderr


def test_evaluate_without_a_model_names_train(prepared_project):
    done = run_stage("evaluate", prepared_project)
    assert done.returncode == errors.EXIT_BAD_INPUT, done.stderr
    assert "models/" in done.stderr and "run `python -m pipeline train` first" in done.stderr


@pytest.fixture(scope="module")
def prepared_project(tmp_path_factory):
    """A tiny project after the real ``prepare`` stage only."""
    from tests.conftest import make_project

    project = make_project(tmp_path_factory.mktemp("prep") / "project")
    done = run_stage("prepare", project)
    assert done.returncode == 0, done.stderr
    return project


def test_compare_out_outside_the_project_is_refused(prepared_project):
    """``compare --out ../x.md`` is refused like any stage output (it returned before the guard was set)."""
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "compare", "workspace", "workspace", "--out", "../x.md"],
        cwd=prepared_project,
        env=stage_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == errors.EXIT_BAD_INPUT, done.stderr
    assert "refusing to write ../x.md" in done.stderr and "outside the project root" in done.stderr
    assert not (prepared_project.parent / "x.md").exists()


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
    assert scrub("GET https://bob:pa55word@mlflow.example.org failed; token tok-123; pa55word again") == (
        "GET https://***@mlflow.example.org failed; token ***; *** again"
    )


def test_scrub_leaves_words_that_contain_a_short_username_alone(monkeypatch):
    """Issue 16, item 10: a username 'u' turned 'unreachable' into '***nreachable' (and so revealed it)."""
    from pipeline.cli import scrub

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://u:pw@127.0.0.1:5000")
    message = "MLflow tracking server http://u:pw@127.0.0.1:5000 is unreachable; user u"
    assert scrub(message) == "MLflow tracking server http://***@127.0.0.1:5000 is unreachable; user u"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://h/api?access_token=abc123&x=1", "https://h/api?access_token=***&x=1"),
        ("https://h/api?x=1&api_key=K3y#token=zz", "https://h/api?x=1&api_key=***#token=***"),
        ("see http://h/p?password=hunter2 now", "see http://h/p?password=*** now"),
        ("https://h/p?user=ann&page=2", "https://h/p?user=ann&page=2"),
    ],
)
def test_secret_query_and_fragment_parameters_are_hidden(monkeypatch, text, expected):
    """Issue 16, item 10: ``?access_token=...`` was printed in clear."""
    from pipeline.cli import scrub

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert scrub(text) == expected


def test_unreachable_uri_with_a_token_in_its_query_never_prints_it(project):
    port = free_port()
    done = run_stage(
        "log", project, env={"MLFLOW_TRACKING_URI": f"http://u:pw@127.0.0.1:{port}/?access_token=SeCrEt99"}
    )
    assert done.returncode == errors.EXIT_TRACKING_UNAVAILABLE, done.stderr
    assert "SeCrEt99" not in done.stdout + done.stderr
    assert "is unreachable" in done.stderr and "access_token=***" in done.stderr


def test_params_are_read_as_yaml_1_2_like_dvc_writes_them(tmp_path):
    """Issue 16, item 8: ``dvc exp run -S`` writes ``positive_label: yes`` unquoted; YAML 1.1 read it as True."""
    from pipeline import config

    (tmp_path / "params.yaml").write_text("data:\n  csv:\n    positive_label: yes\n    classes: [no, yes]\n")
    cfg = config.load(tmp_path / "params.yaml")
    assert cfg.data.csv.positive_label == "yes"
    assert cfg.data.csv.classes == ["no", "yes"]


def test_duplicate_keys_are_refused(tmp_path):
    """A key given twice (YAML 1.1 readers keep the last one silently) is refused, naming the key."""
    from pipeline import config

    (tmp_path / "params.yaml").write_text("seed: 1\nseed: 2\n")
    with pytest.raises(errors.ConfigError, match='duplicate key "seed"'):
        config.load(tmp_path / "params.yaml")


ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefg", "bcdefgh"))
    + "train:\n  devices: [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n"
)


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    """Issue 16, item 8: 9**9 values behind aliases under ``train.devices`` (typed Any) made ``report`` grow to
    the memory limit. Now exit 2 naming the file, in seconds, and nothing is written."""
    (tmp_path / "params.yaml").write_text(ALIAS_BOMB)
    done = run_stage("report", tmp_path, timeout=60)
    assert done.returncode == errors.EXIT_BAD_INPUT, done.stderr
    assert "params.yaml: expands to more than 100000 values once its aliases" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_oversized_params_file_is_refused(tmp_path):
    from pipeline import config

    (tmp_path / "params.yaml").write_text("# " + "x" * (2 << 20) + "\nseed: 1\n")
    with pytest.raises(errors.ConfigError, match="more than the 1048576 a params file may hold"):
        config.load(tmp_path / "params.yaml")


def test_sigterm_during_a_stage_exits_130(prepared_project):
    """SIGTERM while a stage runs (here: while ``train`` imports Lightning and fits) ends it with 130, no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "train"],
        cwd=prepared_project,
        env=stage_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == errors.EXIT_INTERRUPTED, err[-2000:]
    assert "train: interrupted" in err and "Traceback" not in err


def test_exit_codes_are_distinct():
    codes = [
        errors.EXIT_OK,
        errors.EXIT_UNEXPECTED,
        errors.EXIT_BAD_INPUT,
        errors.EXIT_TRACKING_UNAVAILABLE,
        errors.EXIT_INTEGRITY,
        errors.EXIT_AUDIT_FAILED,
        errors.EXIT_INTERRUPTED,
    ]
    assert len(set(codes)) == len(codes)
    assert errors.ConfigError("x").exit_code == errors.EXIT_BAD_INPUT
    assert errors.IntegrityError("x").exit_code == errors.EXIT_INTEGRITY


def test_gate_without_the_fairness_output_exits_2_naming_the_stage(tmp_path):
    """Issue 25: ``gate`` exited 5 (a failed audit) when the audit file was missing: that is a missing input."""
    (tmp_path / "params.yaml").write_text("{}\n")
    done = run_stage("gate", tmp_path)
    assert done.returncode == errors.EXIT_BAD_INPUT, done.stderr
    assert "reports/metrics/fairness.json does not exist" in done.stderr
    assert "run `python -m pipeline fairness` first" in done.stderr and "Traceback" not in done.stderr
