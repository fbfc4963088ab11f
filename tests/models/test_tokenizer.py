"""The tiny tokenizer marks Qwen's special tokens like the real ones, and completion decoding keeps
the grounding markers a Qwen2-VL box needs while dropping end-of-turn, padding and vision tokens."""

from __future__ import annotations

import pytest

from radrl_dist.models.families.qwen_common import GROUNDING_TOKENS, SPECIAL_TOKENS, VISION_TOKENS
from radrl_dist.models.tokenizer import completion_strip_ids, decode_completion, train_tiny_tokenizer


@pytest.fixture(scope="module")
def tok():
    return train_tiny_tokenizer(1024)


def test_special_tokens_are_special_as_in_qwen(tok):
    # Qwen2-VL's tokenizer_config: eos <|im_end|>, pad <|endoftext|>, the rest additional special tokens
    assert set(tok.all_special_tokens) == set(SPECIAL_TOKENS)
    answer = "<|object_ref_start|>Pneumonia<|object_ref_end|><|box_start|>(111,562),(412,718)<|box_end|>"
    ids = tok(answer, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == "Pneumonia(111,562),(412,718)"  # the real failure


def test_completion_text_keeps_grounding_markers_and_drops_the_rest(tok):
    strip = completion_strip_ids(tok)
    answer = "<think>left</think><answer><|object_ref_start|>Nodule<|object_ref_end|><|box_start|>(1,2),(3,4)<|box_end|></answer>"
    ids = tok(answer, add_special_tokens=False)["input_ids"]
    noise = tok.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>", *VISION_TOKENS, "<|im_start|>"])
    assert decode_completion(tok, ids + noise, strip) == answer
    assert not strip & set(tok.convert_tokens_to_ids(list(GROUNDING_TOKENS)))
    assert decode_completion(tok, tok("plain report text.")["input_ids"], strip) == "plain report text."
