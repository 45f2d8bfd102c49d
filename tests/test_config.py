"""Config: layered YAML into frozen pydantic models; bad keys and values fail naming the file and key path."""

from __future__ import annotations

import pytest
import yaml
from helpers import ROOT

from portrait.config import ConfigError, load_config, replace


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
    with pytest.raises(
        ConfigError, match=r"mine\.yaml: train\.max_eval: unknown key \(allowed: calibration_fraction, .*max_evals, "
    ):
        load_config(_write(tmp_path, MINIMAL + "train: {max_eval: 3}\n"))


def test_unknown_section_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"mine\.yaml: trian: unknown key \(allowed: .*train"):
        load_config(_write(tmp_path, MINIMAL + "trian: {max_evals: 3}\n"))


def test_bad_value_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"mine\.yaml: train\.horizon_days: must be an integer, got 'soon'$"):
        load_config(_write(tmp_path, MINIMAL + "train: {horizon_days: soon}\n"))


def test_missing_required_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"mine\.yaml: mlflow: required, but missing$"):
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
    profiles = [p for p in sorted((ROOT / "conf").glob("*.yaml")) if "profile" in yaml.safe_load(p.read_text())]
    assert {p.name for p in profiles} >= {"local.yaml", "cluster.yaml"}
    for path in profiles:
        cfg = load_config(path)
        assert cfg.profile == path.stem
    assert load_config(ROOT / "conf" / "local.yaml").privacy.allow_demo_key
    assert not load_config(ROOT / "conf" / "cluster.yaml").privacy.allow_demo_key


def test_cli_reports_a_bad_key_and_exits_2(tmp_path, capsys):
    from portrait.cli import main

    path = _write(tmp_path, MINIMAL + "score: {holdout: 0.1}\n")
    assert main(["features", "--conf", str(path), "--date", "2026-11-01"]) == 2
    assert (
        "mine.yaml: score.holdout: unknown key (allowed: gate, holdout_fraction, policy_file, reason_inputs)"
        in capsys.readouterr().err
    )


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


@pytest.mark.parametrize(
    "text, message",
    [
        ("score: {holdout_fraction: 1.5}", r"score\.holdout_fraction: must be < 1, got 1\.5"),
        ("ingest: {max_field_chars: 0}", r"ingest\.max_field_chars: must be >= 1, got 0"),
        ("ingest: {late_lookback_days: -1}", r"ingest\.late_lookback_days: must be >= 0, got -1"),
        ("train: {max_evals: 0}", r"train\.max_evals: must be >= 1, got 0"),
        ("train: {test_fraction: 0}", r"train\.test_fraction: must be > 0, got 0"),
        (
            "train: {kmeans_k_range: [8, 4]}",
            r"train\.kmeans_k_range: must be \[low, high\] with low <= high, got \[8, 4\]",
        ),
        ("train: {kmeans_k_range: [1, 4]}", r"train\.kmeans_k_range\[0\]: must be >= 2, got 1"),
        ("train: {max_depth: [3]}", r"train\.max_depth: must have at least 2 item\(s\), got \[3\]"),
        ("train: {subsampling_rate: [0.5, 1.5]}", r"train\.subsampling_rate\[1\]: must be <= 1, got 1\.5"),
        ("train: {oot_dates: 6}", r"train: oot_dates \(6\) must be < training_dates \(6\)"),
        ("features: {categories: [toys, books, toys]}", r"features\.categories: names \['toys'\] more than once"),
    ],
)
def test_out_of_range_values_name_the_file_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=r"^.*mine\.yaml: " + message):
        load_config(_write(tmp_path, MINIMAL + text + "\n"))


def test_unknown_key_in_a_nested_section_lists_the_allowed_keys(tmp_path):
    text = "ingest: {mappings: {online_retail: {columns: {order_id: InvoiceNo, colour: red}}}}\n"
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, MINIMAL + text))
    assert str(err.value) == (
        f"{tmp_path / 'mine.yaml'}: ingest.mappings.online_retail.columns.colour: unknown key (allowed: "
        "account_id, country, currency, description, line_total, order_id, order_ts, product_id, quantity, unit_price)"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("train: {max_evals: '3'}", r"train\.max_evals: must be an integer, got '3'"),
        ("train: {max_evals: true}", r"train\.max_evals: must be an integer, got True"),
        ("train: {test_fraction: half}", r"train\.test_fraction: must be a number, got 'half'"),
        ("privacy: {allow_demo_key: 'yes'}", r"privacy\.allow_demo_key: must be true or false, got 'yes'"),
        ("features: {categories: sneakers}", r"features\.categories: must be a list, got 'sneakers'"),
        ("train: 3", r"train: must be a mapping, got 3"),
        (
            "ingest: {earliest_valid_date: soon}",
            r"ingest\.earliest_valid_date: must be an ISO date \(YYYY-MM-DD\), got 'soon'",
        ),
    ],
)
def test_wrong_type_names_the_key_and_the_expected_type(tmp_path, text, message):
    with pytest.raises(ConfigError, match=r"mine\.yaml: " + message + "$"):
        load_config(_write(tmp_path, MINIMAL + text + "\n"))


def test_every_problem_is_reported_one_line_each(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, MINIMAL + "train: {max_evals: 0, seed: x}\nscore: {holdout_fraction: 2}\n"))
    file = tmp_path / "mine.yaml"
    assert str(err.value).splitlines() == [
        f"{file}: train.max_evals: must be >= 1, got 0",
        f"{file}: train.seed: must be an integer, got 'x'",
        f"{file}: score.holdout_fraction: must be < 1, got 2",
    ]


def test_overrides_are_validated_like_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"mine\.yaml: train\.max_evals: must be >= 1, got 0"):
        load_config(_write(tmp_path, MINIMAL), overrides={"train.max_evals": 0})


def test_spark_conf_values_become_strings_and_sections_are_frozen(tmp_path):
    cfg = load_config(_write(tmp_path, MINIMAL + "spark: {conf: {spark.sql.shuffle.partitions: 4, x.on: true}}\n"))
    assert cfg.spark.conf == {"spark.sql.shuffle.partitions": "4", "x.on": "true"}
    with pytest.raises(ValueError, match="frozen"):
        cfg.train.max_evals = 1  # type: ignore[misc]


def test_replace_validates_the_change(tmp_path):
    cfg = load_config(_write(tmp_path, MINIMAL))
    changed = replace(cfg, train=replace(cfg.train, max_evals=2))
    assert (changed.train.max_evals, cfg.train.max_evals) == (2, 12)
    with pytest.raises(ConfigError, match=r"TrainConfig: max_evals: must be >= 1, got 0"):
        replace(cfg.train, max_evals=0)


def test_load_yaml_model_names_the_file_and_key_path(tmp_path):
    from portrait.config import load_yaml_model
    from portrait.validated import Frozen

    class Entry(Frozen):
        name: str
        weight: float

    class Catalog(Frozen):
        entries: list[Entry]

    path = tmp_path / "catalog.yaml"
    path.write_text("entries:\n  - {name: a, weight: 1}\n  - {name: b, weight: heavy, colour: red}\n")
    with pytest.raises(ConfigError) as err:
        load_yaml_model(path, Catalog, what="test catalog")
    assert str(err.value).splitlines() == [
        f"{path}: entries[1].weight: must be a number, got 'heavy' (name 'b')",
        f"{path}: entries[1].colour: unknown key (allowed: name, weight) (name 'b')",
    ]
    path.write_text("- a\n")
    with pytest.raises(ConfigError, match=r"catalog\.yaml: the test catalog must be a mapping with the keys entries$"):
        load_yaml_model(path, Catalog, what="test catalog")
    path.write_text("entries: [{name: a, weight: 0.5}]\n")
    assert load_yaml_model(path, Catalog, what="test catalog") == Catalog(entries=[Entry(name="a", weight=0.5)])
