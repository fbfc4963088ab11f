"""Load a config from YAML, apply `--set a.b=c` overrides, validate, and explain failures by path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import ValidationError

from radrl_dist.config.schema import RadRLConfig

EMBEDDED_DEMO = "cpu_demo.yaml"


class ConfigError(ValueError):
    """A config that cannot be used; the message names every offending field by its dotted path."""


def format_validation_error(exc: ValidationError, source: str = "config") -> str:
    lines = [f"invalid {source}:"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "<root>"
        msg = err["msg"]
        if path == "<root>" and msg.startswith("Value error, "):
            lines.append(f"  {msg[len('Value error, '):]}")  # cross-section rules name their own path
            continue
        if err["type"] == "extra_forbidden":
            msg = "unknown key (misspelt or not supported here)"
        lines.append(f"  {path}: {msg}")
    return "\n".join(lines)


def parse_override(item: str) -> tuple[list[str], Any]:
    """'a.b.c=value' -> (['a','b','c'], value parsed as a YAML scalar/flow value)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.path=value")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() != "" else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {item!r}: value is not valid YAML ({exc})") from exc
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    for item in overrides:
        parts, value = parse_override(item)
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {'.'.join(parts[: i + 1])} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def read_yaml(path: str | Path | None) -> tuple[dict[str, Any], str]:
    """The raw mapping and a name for messages; None reads the embedded CPU demo config."""
    if path is None:
        text = resources.files("radrl_dist.config").joinpath(EMBEDDED_DEMO).read_text()
        source = f"embedded {EMBEDDED_DEMO}"
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        text, source = p.read_text(), str(p)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping, got {type(data).__name__}")
    return data, source


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> RadRLConfig:
    data, source = read_yaml(path)
    overrides = list(overrides)
    if overrides:
        source = f"config ({source} with --set overrides)"
    data = apply_overrides(data, overrides)
    try:
        return RadRLConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def dump_config(cfg: RadRLConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json", by_alias=True), sort_keys=False)
