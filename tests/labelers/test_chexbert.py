"""CheXbert labeler on a tiny same-shaped model saved in the public chexbert.pth layout."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from radrl_dist.constants import NO_FINDING_INDEX, NUM_OBSERVATIONS
from radrl_dist.labelers.chexbert import MAX_TOKENS, CheXbertLabeler, clean_report, encode_reports, load_chexbert
from radrl_dist.labelers.factory import build_labeler
from radrl_dist.labelers.tiny_chexbert import build_tiny_chexbert

TEXTS = ["Heart size normal and lungs are clear.", "", "Left pleural effusion.\n\n  Cardiomegaly.", "word " * 800]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return build_tiny_chexbert(tmp_path_factory.mktemp("tiny_chexbert"), seed=0)


@pytest.fixture(scope="module")
def labeler(ckpt) -> CheXbertLabeler:
    return build_labeler(f"chexbert:{ckpt}", batch_size=2)


def test_checkpoint_layout_and_determinism(ckpt, tmp_path):
    state = torch.load(ckpt, weights_only=True)["model_state_dict"]
    assert all(k.startswith("module.") for k in state)
    assert "module.linear_heads.13.weight" in state and state["module.linear_heads.13.weight"].shape[0] == 2
    assert state["module.linear_heads.0.weight"].shape[0] == 4
    assert "module.bert.embeddings.position_ids" not in state  # as transformers 2.5.1 saved it
    again = torch.load(build_tiny_chexbert(tmp_path / "a", seed=0), weights_only=True)["model_state_dict"]
    other = torch.load(build_tiny_chexbert(tmp_path / "b", seed=1), weights_only=True)["model_state_dict"]
    assert all(torch.equal(state[k], again[k]) for k in state)
    assert not torch.equal(state["module.linear_heads.0.weight"], other["module.linear_heads.0.weight"])


def test_labels_shape_classes_and_batch_invariance(labeler, ckpt):
    out = labeler.label(TEXTS)
    assert out.dtype == np.int8 and out.shape == (len(TEXTS), NUM_OBSERVATIONS)
    assert set(out[:, :NO_FINDING_INDEX].ravel().tolist()) <= {0, 1, 2, 3}
    assert set(out[:, NO_FINDING_INDEX].tolist()) <= {0, 1}
    one_by_one = np.concatenate([labeler.label([t]) for t in TEXTS])
    np.testing.assert_array_equal(out, one_by_one)
    # the same as running the model by hand on CheXbert's encoding
    model, tok = load_chexbert(ckpt), labeler._tok
    ids = torch.tensor([encode_reports([TEXTS[2]], tok)[0]])
    with torch.no_grad():
        logits = model(ids, torch.ones_like(ids))
    np.testing.assert_array_equal(out[2], [int(lg.argmax()) for lg in logits])


def test_cleaning_and_truncation(labeler):
    assert clean_report("  a\n\nb   c \n") == "a b c"
    ids = encode_reports(TEXTS, labeler._tok)
    tok = labeler._tok
    assert ids[1] == [tok.cls_token_id, tok.sep_token_id]  # empty report
    assert len(ids[3]) == MAX_TOKENS and ids[3][0] == tok.cls_token_id and ids[3][-1] == tok.sep_token_id
    assert ids[3][-2] != tok.sep_token_id
    # batched fast encoding == CheXbert's tokenize -> encode_plus path
    for text, got in zip(TEXTS[:3], ids[:3]):
        pieces = tok.tokenize(clean_report(text))
        want = [tok.cls_token_id, *tok.convert_tokens_to_ids(pieces), tok.sep_token_id]
        assert got == want


def test_pickles_without_the_model(labeler):
    labeler.label(["x"])
    blob = pickle.dumps(labeler)
    clone = pickle.loads(blob)
    assert clone._model is None and clone.version == labeler.version and clone.name == "chexbert"
    np.testing.assert_array_equal(clone.label(TEXTS[:3]), labeler.label(TEXTS[:3]))


def _resave(src: Path, dst: Path, edit) -> Path:
    ck = torch.load(src, weights_only=True)
    edit(ck["model_state_dict"])
    dst.mkdir(parents=True, exist_ok=True)
    torch.save(ck, dst / "chexbert.pth")
    return dst / "chexbert.pth"


def test_wrong_checkpoints_name_the_keys(ckpt, tmp_path):
    bad = _resave(ckpt, tmp_path / "m", lambda s: s.pop("module.linear_heads.7.bias"))
    with pytest.raises(ValueError, match=r"linear_heads\.7\.bias"):
        load_chexbert(bad)
    extra = _resave(ckpt, tmp_path / "x", lambda s: s.update({"module.extra.weight": torch.zeros(1)}))
    with pytest.raises(ValueError, match=r"extra\.weight"):
        load_chexbert(extra)
    # position_ids (saved by transformers 3.x-4.30) is the one tolerated key
    pos = _resave(ckpt, tmp_path / "p", lambda s: s.update({"module.bert.embeddings.position_ids": torch.arange(512)[None]}))
    load_chexbert(pos)
    torch.save({"state": 1}, tmp_path / "odd.pth")
    with pytest.raises(ValueError, match="model_state_dict"):
        load_chexbert(tmp_path / "odd.pth")
    with pytest.raises(FileNotFoundError):
        load_chexbert(tmp_path / "missing.pth")


def test_tokenizer_is_required(ckpt, tmp_path):
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "chexbert.pth").write_bytes(ckpt.read_bytes())
    with pytest.raises(FileNotFoundError, match="tokenizer"):
        build_labeler(f"chexbert:{lone / 'chexbert.pth'}")
    lab = build_labeler(f"chexbert:{lone / 'chexbert.pth'}", tokenizer=str(ckpt.parent / "tokenizer"))
    assert lab.label(["ok"]).shape == (1, NUM_OBSERVATIONS)
