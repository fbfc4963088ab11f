"""Synthetic chest radiograph phantoms with known findings, reports, CheXpert labels and boxes."""

from radrl_dist.data.phantom.generator import ensure_phantom, generate_phantom_dataset, render_study

__all__ = ["ensure_phantom", "generate_phantom_dataset", "render_study"]
