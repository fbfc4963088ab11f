"""Configuration: pydantic models for the whole system, YAML loading and dotted CLI overrides."""

from radrl_dist.config.loader import ConfigError, format_validation_error, load_config
from radrl_dist.config.schema import RadRLConfig

__all__ = ["ConfigError", "RadRLConfig", "format_validation_error", "load_config"]
