"""Supervised stages (issue 8): target builders and `python -m radrl_dist.sft`."""
