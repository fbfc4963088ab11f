"""Train a tiny byte-level BPE tokenizer locally with a model family's chat/vision special tokens.

Why: tests and the CPU demo must never download a tokenizer; each family's spec
(radrl_dist.models.families) names the special tokens, end-of-turn and chat template of the real
tokenizer, so code written against this one works against theirs. The decode helpers ask the
family specs which tokens are vision placeholders (never sampled) and which are grounding markers
(kept in completion text).
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from radrl_dist.models.corpus import corpus_lines
from radrl_dist.models.families import (
    FamilySpec,
    all_grounding_tokens,
    all_vision_tokens,
    family_of_checkpoint,
    get_family,
)

# Tags of the structured output formats: added as whole tokens (not special, so decode keeps them).
FORMAT_TOKENS: tuple[str, ...] = ("<think>", "</think>", "<report>", "</report>", "<answer>", "</answer>")


def train_tiny_tokenizer(vocab_size: int = 1024, extra_text: Iterable[str] = (),
                         family: str | FamilySpec = "qwen2_vl") -> PreTrainedTokenizerFast:
    """Deterministic: the BPE trainer is deterministic for a fixed corpus and vocab size."""
    tokens = get_family(family).tiny_tokens
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(FORMAT_TOKENS) - len(tokens.whole),
        special_tokens=list(tokens.special),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines() + list(extra_text), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=tokens.eos, pad_token=tokens.pad, unk_token=None, bos_token=tokens.bos,
        model_max_length=32768, padding_side="left", extra_special_tokens=dict(tokens.named),
    )
    # Real tokenizers list every special token but eos/pad/bos as an additional special token.
    named = {tokens.eos, tokens.pad, tokens.bos}
    fast.add_special_tokens({"additional_special_tokens": [t for t in tokens.special if t not in named]})
    fast.add_tokens(list(tokens.whole) + list(FORMAT_TOKENS))
    fast.chat_template = tokens.chat_template
    return fast


def vision_token_ids_at(model_path) -> list[int]:
    """`vision_token_ids` of the tokenizer saved with a local model, for that checkpoint's family."""
    tok = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
    return vision_token_ids(tok, family_of_checkpoint(model_path))


def _present_ids(tokenizer, tokens: Iterable[str]) -> list[int]:
    ids = []
    for t in tokens:
        i = tokenizer.convert_tokens_to_ids(t)
        if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id:
            ids.append(i)
    return ids


def vision_token_ids(tokenizer, family: str | FamilySpec | None = None) -> list[int]:
    """Ids of the family's vision special tokens present in `tokenizer` (to suppress in sampling);
    without a family, every registered family's (a token absent from the tokenizer is skipped)."""
    tokens = get_family(family).vision_tokens if family is not None else all_vision_tokens()
    return _present_ids(tokenizer, tokens)


def stop_token_ids(tokenizer, family: str | FamilySpec) -> list[int]:
    """Ids generation stops at: the family's stop tokens present in `tokenizer`, else its eos."""
    return _present_ids(tokenizer, get_family(family).stop_tokens) or [tokenizer.eos_token_id]


def end_of_turn_id(tokenizer, family: str | FamilySpec) -> int:
    """The id that closes an assistant turn (what an SFT target ends with)."""
    return stop_token_ids(tokenizer, family)[0]


def completion_strip_ids(tokenizer) -> frozenset[int]:
    """Ids a completion's text never shows: every special token (end of turn, padding, vision pads,
    FIM and the like in real tokenizers) except the grounding markers the box codecs parse."""
    special = set(tokenizer.all_special_ids)
    special |= {i for i, tok in tokenizer.added_tokens_decoder.items() if tok.special}
    keep = set(_present_ids(tokenizer, all_grounding_tokens()))
    return frozenset(special - keep)


def decode_completion(tokenizer, token_ids, strip_ids: frozenset[int]) -> str:
    """The text of sampled `token_ids` that rewards and evaluation parse: the one decode every engine
    uses, so the same ids give the same text whichever engine sampled them."""
    return tokenizer.decode([i for i in token_ids if i not in strip_ids], skip_special_tokens=False)
