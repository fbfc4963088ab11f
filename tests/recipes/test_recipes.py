"""Every recipe validates, and runs 2 steps at tiny scale with the tiny model of its family."""

import json
from pathlib import Path

import pytest
import ray

from radrl_dist.config import load_config
from radrl_dist.recipes import smoke_overrides

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted(p for p in (ROOT / "configs").glob("*.yaml") if p.name != "cpu_demo.yaml")


def test_all_eight_recipes_are_shipped():
    assert {p.stem for p in RECIPES} == {"mrg_r1_iu_xray", "mrg_r1_mimic", "boxmed_mcl", "boxmed_svr",
                                         "boxmed_adapter", "radvlm_sft", "radvlm_coldstart", "radvlm_grpo"}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_header_cites_the_paper_and_its_departures(path):
    head = path.read_text().split("\n\n")[0]
    assert "Follows" in head and "Departs" in head and "Run:" in head


@pytest.mark.slow
@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_runs_two_steps_tiny(path, tmp_path):
    cfg = load_config(path, smoke_overrides(tmp_path))
    full = load_config(path)
    assert (cfg.model.family, cfg.stage, dict(cfg.data.task_mix), cfg.learner.lora.enabled) == \
           (full.model.family, full.stage, dict(full.data.task_mix), full.learner.lora.enabled)
    try:
        if cfg.stage == "sft":
            from radrl_dist.sft.trainer import run_sft

            res = run_sft(cfg)
            assert res.steps == 2
            assert (Path(res.output_dir) / "config.json").is_file()
            assert json.loads((Path(res.output_dir) / "sft_summary.json").read_text())["steps"] == 2
        else:
            from radrl_dist.train.driver import run

            res = run(cfg)
            assert res.ok and res.steps_done == 2
            assert (tmp_path / "run" / "final_model" / "config.json").is_file()
    finally:
        ray.shutdown()
