"""The model-family registry: name -> `FamilySpec`, the one place that lists the families.

Adding a family = one file here that defines `SPEC` (and its box format, when no shared one fits),
one line in `_MODULES`, and its tests (the family-parametrised tests read `FAMILY_NAMES`). The
config's `model.family` and `data.box_format` Literals derive from `FAMILY_NAMES` and
`BOX_FORMAT_NAMES`, so a new family is a valid config value with no other edit.
"""

from __future__ import annotations

import json
from pathlib import Path

from radrl_dist.boxes.codecs import SHARED_BOX_FORMATS, BoxCodec, BoxTextFormat
from radrl_dist.models.families import gemma3, qwen2_5_vl, qwen2_vl, qwen3_vl
from radrl_dist.models.families.spec import FamilySpec

_MODULES = (qwen2_vl, qwen2_5_vl, qwen3_vl, gemma3)
FAMILIES: dict[str, FamilySpec] = {m.SPEC.name: m.SPEC for m in _MODULES}
FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)
# The processor's per-token image mask goes by one of these names (a PromptInputs reads whichever is there).
TOKEN_TYPE_KEYS: tuple[str, ...] = tuple(dict.fromkeys(s.token_type_key for s in FAMILIES.values()))
# Box text formats by name: the shared ones (boxes/codecs) and those a family file defines.
BOX_FORMATS: dict[str, BoxTextFormat] = {**SHARED_BOX_FORMATS, **{s.own_box_format.name: s.own_box_format
                                                                 for s in FAMILIES.values() if s.own_box_format}}
BOX_FORMAT_NAMES: tuple[str, ...] = tuple(BOX_FORMATS)
_unknown = {s.name: s.box_format for s in FAMILIES.values() if s.box_format not in BOX_FORMATS}
if _unknown:  # a family file naming a format nobody defines: fail at import, not at the first grounding reward
    raise ImportError(f"model families name undefined box formats: {_unknown}")


def get_family(name: str | FamilySpec) -> FamilySpec:
    """The spec of family `name` (a spec passes through); unknown names list the known ones."""
    if isinstance(name, FamilySpec):
        return name
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(FAMILY_NAMES)}") from None


def get_codec(box_format: str) -> BoxCodec:
    """The codec of box format `box_format` (shared or family-defined); unknown names list the known ones."""
    try:
        return BoxCodec(BOX_FORMATS[box_format])
    except (KeyError, TypeError):
        raise ValueError(f"unknown box format {box_format!r}; known: {BOX_FORMAT_NAMES}") from None


def family_of_checkpoint(path: str | Path) -> FamilySpec:
    """The family of a local checkpoint, from its config.json `model_type`."""
    model_type = json.loads((Path(path) / "config.json").read_text(encoding="utf-8")).get("model_type")
    for spec in FAMILIES.values():
        if model_type in spec.model_types:
            return spec
    raise ValueError(f"{path}: model_type {model_type!r} belongs to no known model family "
                     f"({', '.join(FAMILY_NAMES)}); add one under radrl_dist/models/families/")


def all_vision_tokens() -> tuple[str, ...]:
    """Every family's vision tokens (for code that holds a tokenizer but not its family)."""
    return tuple(dict.fromkeys(t for s in FAMILIES.values() for t in s.vision_tokens))


def all_grounding_tokens() -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for s in FAMILIES.values() for t in s.grounding_tokens))


def all_vision_modules() -> tuple[str, ...]:
    return tuple(dict.fromkeys(m for s in FAMILIES.values() for m in s.vision_modules))
