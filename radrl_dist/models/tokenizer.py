"""Train a tiny byte-level BPE tokenizer locally with the Qwen chat/vision special tokens.

Why: tests and the CPU demo must never download a tokenizer; the real Qwen tokenizers use byte-level
BPE with these special tokens, so code written against this one works against theirs.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from radrl_dist.models.corpus import corpus_lines

SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# Real Qwen tokenizers list every one of these but the pad token as an additional special token.
_EXTRA_SPECIAL: tuple[str, ...] = tuple(t for t in SPECIAL_TOKENS if t != "<|endoftext|>")
# Qwen2-VL's grounding markers: special tokens that a box codec reads, so a completion's text keeps
# them (a plain `skip_special_tokens=True` decode deletes them and every Qwen2-VL box parses to none).
GROUNDING_TOKENS: tuple[str, ...] = ("<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>")
# Tags of the structured output formats: added as whole tokens (not special, so decode keeps them).
FORMAT_TOKENS: tuple[str, ...] = ("<think>", "</think>", "<report>", "</report>", "<answer>", "</answer>")
# Tokens a policy must never sample: a sampled image pad breaks the scoring forward pass.
VISION_TOKENS: tuple[str, ...] = (
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<|quad_start|>",
    "<|quad_end|>",
)

QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def train_tiny_tokenizer(vocab_size: int = 1024, extra_text: Iterable[str] = ()) -> PreTrainedTokenizerFast:
    """Deterministic: the BPE trainer is deterministic for a fixed corpus and vocab size."""
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(FORMAT_TOKENS),
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines() + list(extra_text), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        model_max_length=32768,
        padding_side="left",
    )
    fast.add_special_tokens({"additional_special_tokens": list(_EXTRA_SPECIAL)})
    fast.add_tokens(list(FORMAT_TOKENS))
    fast.chat_template = QWEN_CHAT_TEMPLATE
    return fast


def vision_token_ids_at(model_path) -> list[int]:
    """`vision_token_ids` of the tokenizer saved with a local model (what the engines suppress)."""
    from transformers import AutoTokenizer

    return vision_token_ids(AutoTokenizer.from_pretrained(str(model_path), local_files_only=True))


def vision_token_ids(tokenizer) -> list[int]:
    """Ids of the vision special tokens present in `tokenizer` (to suppress in sampling)."""
    ids = []
    for t in VISION_TOKENS:
        i = tokenizer.convert_tokens_to_ids(t)
        if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id:
            ids.append(i)
    return ids


def completion_strip_ids(tokenizer) -> frozenset[int]:
    """Ids a completion's text never shows: every special token (end of turn, padding, vision pads,
    FIM and the like in real tokenizers) except the grounding markers the box codecs parse."""
    special = set(tokenizer.all_special_ids)
    special |= {i for i, tok in tokenizer.added_tokens_decoder.items() if tok.special}
    keep = {tokenizer.convert_tokens_to_ids(t) for t in GROUNDING_TOKENS}
    return frozenset(special - keep)


def decode_completion(tokenizer, token_ids, strip_ids: frozenset[int]) -> str:
    """The text of sampled `token_ids` that rewards and evaluation parse: the one decode every engine
    uses, so the same ids give the same text whichever engine sampled them."""
    return tokenizer.decode([i for i in token_ids if i not in strip_ids], skip_special_tokens=False)
