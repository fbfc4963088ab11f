"""The distributed GRPO loop (DESIGN section 1): driver, loop, checkpoints, held-out evaluation.

Run machinery it shares with SFT and evaluation (Ray setup, data, sampler, metrics) is radrl_dist.runtime.
"""
