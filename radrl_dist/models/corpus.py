"""A small corpus of radiology-style text used to train the tiny models' tokenizer locally.

It only has to cover the vocabulary the phantom reports, prompts and box formats use, so that a tiny
BPE tokenizer splits them into sensible pieces; byte-level BPE still encodes any text.
"""

from __future__ import annotations

SENTENCES: tuple[str, ...] = (
    "The heart size is normal. The lungs are clear.",
    "Heart size and mediastinal contours are within normal limits.",
    "The cardiomediastinal silhouette is enlarged.",
    "There is cardiomegaly. Moderate enlargement of the cardiac silhouette.",
    "No focal consolidation, pleural effusion or pneumothorax.",
    "There is a small left pleural effusion with blunting of the costophrenic angle.",
    "Right pleural effusion is present. No pneumothorax is seen.",
    "Patchy airspace opacity in the right lower lobe may represent pneumonia.",
    "Consolidation in the left upper lobe. Cannot exclude pneumonia.",
    "A rounded nodule is seen in the right upper lung zone.",
    "There is a right apical pneumothorax with a visible pleural line.",
    "An endotracheal tube terminates above the carina. A central venous catheter is in place.",
    "No acute cardiopulmonary abnormality. No acute fracture.",
    "Mild pulmonary edema with interstitial markings. Possible atelectasis at the lung bases.",
    "Lung volumes are low. Bibasilar atelectasis. The osseous structures are intact.",
    "Findings: heart normal, lungs clear. Impression: no acute disease.",
    "Please describe the findings of this chest radiograph.",
    "Write the findings section of the radiology report for this chest X-ray.",
    "Locate the abnormal finding and answer with its bounding box.",
    "Where is the pleural effusion? Where is the nodule? Where is the consolidation?",
    '<think> The left costophrenic angle is blunted. </think><report> Small left pleural effusion. </report>',
    '<think> There is an opacity. </think><answer> {"bbox_2d": [120, 340, 410, 560], "label": "effusion"} </answer>',
    "[0.12, 0.45, 0.38, 0.71] [0.55, 0.20, 0.80, 0.43] (111,562),(412,718)",
    '[{"bbox_2d": [10, 20, 300, 400], "label": "Cardiomegaly"}]',
    "0 1 2 3 4 5 6 7 8 9 10 25 50 75 100 250 500 750 1000",
    "system user assistant You are a helpful radiology assistant.",
    "left right upper lower middle lobe zone base apex apical hilar bilateral unilateral",
    "small moderate large mild severe stable unchanged new increased decreased resolved",
    "without evidence of, free of, no, not, negative for, clear of, may represent, suggestive of",
)


def corpus_lines(repeat: int = 3) -> list[str]:
    """The corpus, repeated so BPE merges of frequent radiology words win."""
    return list(SENTENCES) * repeat
