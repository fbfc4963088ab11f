"""radrl_dist: Ray-distributed GRPO post-training of vision-language models for chest X-ray reports
and grounding, with clinically grounded rewards."""

__version__ = "0.1.0"
