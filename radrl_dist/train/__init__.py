"""The distributed GRPO loop (DESIGN section 1): driver, sampler, metrics, checkpoints."""
