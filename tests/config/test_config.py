"""Config loading: YAML, dotted overrides, and errors that name the offending field."""

from pathlib import Path

import pytest

from radrl_dist.config import ConfigError, load_config
from radrl_dist.config.loader import dump_config

ROOT = Path(__file__).resolve().parents[2]


def test_embedded_demo_equals_configs_file():
    embedded = (ROOT / "radrl_dist" / "config" / "cpu_demo.yaml").read_text()
    assert embedded == (ROOT / "configs" / "cpu_demo.yaml").read_text()
    assert load_config() == load_config(ROOT / "configs" / "cpu_demo.yaml")


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_validates(path):
    load_config(path)


def test_dotted_override_changes_value_and_parses_types():
    cfg = load_config(None, ["rollout.group_size=8", "learner.lora.enabled=false", "data.task_mix={report: 1, grounding: 0.5}"])
    assert cfg.rollout.group_size == 8
    assert cfg.learner.lora.enabled is False
    assert cfg.data.task_mix == {"report": 1.0, "grounding": 0.5}


def test_misspelt_key_names_its_dotted_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rollout:\n  group_sise: 4\n")
    with pytest.raises(ConfigError) as exc:
        load_config(bad)
    assert "rollout.group_sise" in str(exc.value)
    assert "unknown key" in str(exc.value)


def test_misspelt_override_names_its_path():
    with pytest.raises(ConfigError, match=r"learner\.lora\.rank"):
        load_config(None, ["learner.lora.rank=8"])


@pytest.mark.parametrize(
    "override, path",
    [
        ("rollout.group_size=1", "rollout.group_size"),
        ("learner.lr=abc", "learner.lr"),
        ("learner.zero_stage=4", "learner.zero_stage"),
        ("model.attn_implementation=flash_attention_2", "model.attn_implementation"),
        ("data.task_mix={report: 1, grounding: 1}|reward.weights={report: {mccs: 1}}", "reward.weights.grounding"),
    ],
)
def test_impossible_values_fail_with_path(override, path):
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
        load_config(None, override.split("|"))


def test_bad_override_syntax_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="key.path=value"):
        load_config(None, ["rollout.group_size"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_dump_round_trips(tmp_path):
    cfg = load_config(None, ["train.steps=3"])
    out = tmp_path / "c.yaml"
    out.write_text(dump_config(cfg))
    assert load_config(out) == cfg


@pytest.mark.parametrize(
    "override, path",
    [
        ("learner.lr=.inf", "learner.lr"),
        ("rollout.temperature=.inf", "rollout.temperature"),
        ("grpo.clip_low=.inf", "grpo.clip_low"),
        ("reward.weights.report.mccs=.nan", "reward.weights.report.mccs"),  # a dict value
        ("learner.betas=[0.9, .nan]", "learner.betas.1"),  # a tuple item
        ("reward.both_blank=-.inf", "reward.both_blank"),  # an optional float
    ],
)
def test_non_finite_values_fail_with_path(override, path):
    with pytest.raises(ConfigError, match=rf"{path.replace('.', chr(92) + '.')}: Input should be a finite number"):
        load_config(None, [override])
