"""The two LoRA merges agree (issue 19): the learner's `merged` export (PEFT's own delta on the live
PeftModel, learner/export.py) and the engines' merge of a published `lora` manifest (rollout/lora_merge.py).

Why two: an engine receives only tensors and the adapter config, never a PEFT model (vLLM's model is
not one, and the engines do not import peft), so it merges W0 + scale * B @ A itself; the learner
merges with PEFT on the model it trains. Both must give the same weights, for plain and rsLoRA scaling,
or a LoRA run's rollouts would sample from a policy the learner never had.
"""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from radrl_dist.learner.export import gather_export, lora_config_dict
from radrl_dist.rollout.lora_merge import lora_deltas, merge_into


class TinyLM(nn.Module):
    """Linear layers under the HF names LoRA targets in the policy (q/v projections, MLP down)."""

    def __init__(self) -> None:
        super().__init__()
        layer = lambda: nn.ModuleDict({  # noqa: E731
            "self_attn": nn.ModuleDict({"q_proj": nn.Linear(16, 16), "v_proj": nn.Linear(16, 8)}),
            "mlp": nn.ModuleDict({"down_proj": nn.Linear(32, 16, bias=False)})})
        self.model = nn.ModuleDict({"language_model": nn.ModuleDict({"layers": nn.ModuleList([layer(), layer()])})})


@pytest.mark.parametrize("lora", [dict(r=4, lora_alpha=8), dict(r=8, lora_alpha=16, use_rslora=True)])
def test_engine_merge_of_a_lora_manifest_equals_the_learner_merged_export(lora):
    torch.manual_seed(0)
    base = TinyLM()
    w0 = {n: p.detach().clone() for n, p in base.state_dict().items()}
    peft_model = get_peft_model(base, LoraConfig(target_modules=["q_proj", "v_proj", "down_proj"], **lora))
    with torch.no_grad():  # PEFT starts B at zero (a no-op adapter); make every delta count
        for n, p in peft_model.named_parameters():
            if "lora_" in n:
                p.copy_(torch.randn_like(p) * 0.5)

    learner_merged = dict(gather_export(peft_model, "merged", is_rank0=True, include_vision=True))
    adapter = gather_export(peft_model, "lora", is_rank0=True, include_vision=True)
    engine_merged = merge_into(w0, lora_deltas(adapter, lora_config_dict(peft_model)))

    targeted = {n for n in w0 if n.endswith(("q_proj.weight", "v_proj.weight", "down_proj.weight"))}
    assert set(engine_merged) == targeted and targeted <= set(learner_merged)
    for name in targeted:
        assert not torch.equal(engine_merged[name], w0[name]), name  # the adapter moved it
        torch.testing.assert_close(engine_merged[name], learner_merged[name], rtol=0, atol=1e-5, msg=name)
    for name in set(w0) - targeted:  # biases and untargeted weights: the learner exports them unchanged
        torch.testing.assert_close(learner_merged[name], w0[name], rtol=0, atol=0)
