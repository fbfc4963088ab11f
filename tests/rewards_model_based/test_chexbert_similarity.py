"""CheXbert [CLS] cosine on the tiny chexbert.pth-layout model, against a float64 re-derivation that
loads the checkpoint's tensors into a plain transformers BertModel and runs one report at a time."""

import numpy as np
import pytest
import torch

from radrl_dist.labelers.chexbert import config_from_state, encode_reports
from radrl_dist.rewards.model_based.factory import build_scorer

from .conftest import CANDS, REFS


def test_matches_float64_rederivation(tiny_paths):
    from transformers import AutoTokenizer, BertModel

    ckpt = tiny_paths["chexbert"]
    state = {k.removeprefix("module."): v for k, v in torch.load(ckpt, weights_only=True)["model_state_dict"].items()}
    bert = BertModel(config_from_state(state, ckpt), add_pooling_layer=False)
    missing, unexpected = bert.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("bert.")},
                                               strict=False)
    assert not [k for k in missing if "position_ids" not in k] and not [k for k in unexpected if "pooler" not in k]
    bert = bert.double().eval()
    tok = AutoTokenizer.from_pretrained(str(tiny_paths["chexbert"]).rsplit("/", 1)[0] + "/tokenizer")

    def cls(text):
        ids = encode_reports([text], tok)[0]
        with torch.no_grad():
            return bert(torch.tensor([ids]))[0][0, 0].numpy()

    want = [float(cls(c) @ cls(r) / np.linalg.norm(cls(c)) / np.linalg.norm(cls(r))) for c, r in zip(CANDS, REFS)]
    got = build_scorer("chexbert_cosine", {"chexbert": ckpt}).score(CANDS, REFS)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    # random weights put every [CLS] close together: check the distances too, relatively
    np.testing.assert_allclose(1 - got, 1 - np.array(want), rtol=1e-3, atol=1e-12)
    assert len(set(np.round(1 - got, 6))) >= 3, got  # distinct pairs give distinct scores
    print("chexbert cosine distance", 1 - got, "max abs err", np.abs(got - want).max())
    assert build_scorer("chexbert_cosine", {"chexbert": ckpt}).score(CANDS[:2], CANDS[:2]) == pytest.approx(1.0)


def test_missing_checkpoint_names_the_config_field(tmp_path):
    with pytest.raises(ValueError, match="model_rewards.chexbert"):
        build_scorer("chexbert_cosine", {})
    with pytest.raises(FileNotFoundError, match="chexbert.pth"):
        build_scorer("chexbert_cosine", {"chexbert": str(tmp_path / "chexbert.pth")})
