"""Report labelers: text -> 14 CheXpert observations (CheXbert order), behind one `Labeler` interface.

`build_labeler("rules" | "chexbert:PATH")` (factory.py) is the entry point; nothing here imports
torch until a CheXbert labeler is built, so the rule labeler stays light inside reward actors.
"""

from radrl_dist.labelers.base import Labeler, labels_to_names

__all__ = ["Labeler", "labels_to_names"]
