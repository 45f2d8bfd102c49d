"""Config: layered YAML into typed dataclasses; bad keys and values fail naming the key."""
from __future__ import annotations

import pytest

from helpers import ROOT
from portrait.config import ConfigError, load_config


def _write(tmp_path, text: str):
    (tmp_path / "base.yaml").write_text((ROOT / "conf" / "base.yaml").read_text())
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    return path


MINIMAL = """extends: base.yaml
paths: {lakehouse: ./l, landing: ./r, truth: ./t}
mlflow: {tracking_uri: "sqlite:///m.db", experiment: e}
"""


def test_profile_extends_base_and_types_values(tmp_path):
    cfg = load_config(_write(tmp_path, MINIMAL + "train: {max_evals: 3}\n"))
    assert cfg.train.max_evals == 3
    assert cfg.train.horizon_days == 30  # from base.yaml
    assert cfg.features.categories[0] == "sneakers"
    assert cfg.paths.lakehouse.startswith("/")  # made absolute


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'train\.max_eval'"):
        load_config(_write(tmp_path, MINIMAL + "train: {max_eval: 3}\n"))


def test_unknown_section_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'trian'"):
        load_config(_write(tmp_path, MINIMAL + "trian: {max_evals: 3}\n"))


def test_bad_value_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"'train\.horizon_days' must be an integer, got 'soon'"):
        load_config(_write(tmp_path, MINIMAL + "train: {horizon_days: soon}\n"))


def test_missing_required_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"missing required key 'mlflow'"):
        load_config(_write(tmp_path, "extends: base.yaml\npaths: {lakehouse: l, landing: r, truth: t}\n"))


def test_environment_overrides_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTRAIT_LAKEHOUSE", "s3a://bucket/lake")
    assert load_config(_write(tmp_path, MINIMAL)).paths.lakehouse == "s3a://bucket/lake"


def test_non_demo_profile_refuses_to_run_without_a_key(tmp_path, monkeypatch):
    monkeypatch.delenv("PORTRAIT_PII_KEY", raising=False)
    cfg = load_config(_write(tmp_path, MINIMAL))
    with pytest.raises(ConfigError, match="PORTRAIT_PII_KEY is not set"):
        cfg.pii_key()
    monkeypatch.setenv("PORTRAIT_PII_KEY", "from-the-vault")
    assert cfg.pii_key() == b"from-the-vault"


def test_shipped_profiles_load():
    for name in ("local.yaml", "cluster.yaml"):
        cfg = load_config(ROOT / "conf" / name)
        assert cfg.profile == name.split(".")[0]
    assert load_config(ROOT / "conf" / "local.yaml").privacy.allow_demo_key
    assert not load_config(ROOT / "conf" / "cluster.yaml").privacy.allow_demo_key


def test_cli_reports_a_bad_key_and_exits_2(tmp_path, capsys):
    from portrait.cli import main

    path = _write(tmp_path, MINIMAL + "score: {holdout: 0.1}\n")
    assert main(["features", "--conf", str(path), "--date", "2026-11-01"]) == 2
    assert "unknown key 'score.holdout'" in capsys.readouterr().err


def test_catalogs_are_found_relative_to_the_conf_that_names_them(tmp_path):
    """A conf elsewhere that extends conf/local.yaml uses conf/'s catalogs until it names its own."""
    child = tmp_path / "cluster.yaml"
    child.write_text(f"extends: {ROOT / 'conf' / 'local.yaml'}\n")
    cfg = load_config(child)
    assert cfg.conf_dir / cfg.tags.file == ROOT / "conf" / "tags.yaml"
    assert cfg.conf_dir / cfg.score.policy_file == ROOT / "conf" / "actions.yaml"

    (tmp_path / "sub").mkdir()
    own = tmp_path / "sub" / "own.yaml"
    own.write_text("extends: ../cluster.yaml\ntags: {file: my_tags.yaml}\n")
    cfg = load_config(own)
    assert cfg.conf_dir / cfg.tags.file == tmp_path / "sub" / "my_tags.yaml"
    assert cfg.conf_dir / cfg.score.policy_file == ROOT / "conf" / "actions.yaml"
