"""params.yaml -> typed config: defaults, ranges and misspelt keys."""

import pytest
import yaml

from pipeline import config
from pipeline.errors import ConfigError


def test_defaults_match_classic_recipe():
    cfg = config.from_dict({})
    assert cfg.train.hidden == [64, 64]
    assert cfg.train.lr == 1e-3
    assert cfg.train.epochs == 10
    assert cfg.data.sensitive is None  # the source's own sensitive columns (adult: sex, race)
    assert cfg.data.sensitive_as_features is False


def test_repo_params_file_is_valid():
    cfg = config.load("params.yaml")
    assert cfg.data.source == "adult"


def test_misspelt_key_suggests_the_right_one():
    with pytest.raises(ConfigError, match=r"unknown setting 'train.epoch'; did you mean 'train.epochs'\?"):
        config.from_dict({"train": {"epoch": 3}})


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"train": {"lr": -0.1}}, "train.lr"),
        ({"train": {"epochs": 0}}, "train.epochs"),
        ({"train": {"hidden": []}}, "train.hidden"),
        ({"data": {"val_size": 1.0}}, "data.val_size"),
    ],
)
def test_out_of_range_values_are_named(raw, fragment):
    with pytest.raises(ConfigError, match=fragment):
        config.from_dict(raw)


def test_overrides_are_applied_and_checked(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"train": {"epochs": 3}}))
    assert config.load(path, overrides={"train.epochs": 5}).train.epochs == 5
    with pytest.raises(ConfigError, match="train.epochs"):
        config.load(path, overrides={"train.epochs": 0})


def test_the_config_defaults_are_the_runs_params_yaml():
    """A ``Config()`` in a test is the run's config: every default equals params.yaml's value, so
    defaults live in one place and a test cannot silently exercise settings no run uses."""
    from pathlib import Path

    from pipeline import config

    shipped = config.load(Path(__file__).resolve().parents[1] / "params.yaml").model_dump(mode="json")
    assert config.Config().model_dump(mode="json") == shipped
