"""Names shared by every part: the 14 CheXpert observations in CheXbert order and the label classes.

Kept in one place so the labelers, rewards, metrics and data converters never disagree on an index.
"""

from __future__ import annotations

CHEXPERT_OBSERVATIONS: tuple[str, ...] = (
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
    "No Finding",
)
NUM_OBSERVATIONS = len(CHEXPERT_OBSERVATIONS)
OBSERVATION_INDEX: dict[str, int] = {name: i for i, name in enumerate(CHEXPERT_OBSERVATIONS)}
NO_FINDING_INDEX = OBSERVATION_INDEX["No Finding"]
SUPPORT_DEVICES_INDEX = OBSERVATION_INDEX["Support Devices"]

# The five observations most CE tables report ("top 5" in f1chexbert, "5" in our metric keys).
TOP5_OBSERVATIONS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Pleural Effusion",
)

# Label classes, as CheXbert's heads emit them (No Finding uses only BLANK/POSITIVE).
BLANK, POSITIVE, NEGATIVE, UNCERTAIN = 0, 1, 2, 3
CLASS_NAMES: dict[int, str] = {BLANK: "blank", POSITIVE: "positive", NEGATIVE: "negative", UNCERTAIN: "uncertain"}
CLASS_FROM_NAME: dict[str, int] = {v: k for k, v in CLASS_NAMES.items()}

TASKS: tuple[str, ...] = ("report", "grounding")
