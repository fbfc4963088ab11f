"""Dataset class names -> CheXpert observations, where they mean the same finding.

Why only some: the model's labels are the 14 CheXpert observations (radrl_dist.constants); a class
with no counterpart (VinDr's "ILD", "Calcification", NIH's "Hernia") keeps its own name on the box
and adds no label. VinDr's "Aortic enlargement" is counted as Enlarged Cardiomediastinum (the aorta is part of
the cardiomediastinal silhouette); this is our choice, not the dataset's. Lookup is case-insensitive. "No finding" maps to CheXpert's "No Finding".

VinDr-CXR (PhysioNet release, 22 local labels; the Kaggle VinBigData release has 14 of them):
  Aortic enlargement -> Enlarged Cardiomediastinum   Atelectasis -> Atelectasis
  Cardiomegaly -> Cardiomegaly                       Consolidation -> Consolidation
  Edema -> Edema                                     Infiltration -> Lung Opacity
  Lung Opacity -> Lung Opacity                       Nodule/Mass -> Lung Lesion
  Lung cavity -> Lung Lesion                         Lung cyst -> Lung Lesion
  Pleural effusion -> Pleural Effusion               Pleural thickening -> Pleural Other
  Pneumothorax -> Pneumothorax                       Rib fracture, Clavicle fracture -> Fracture
  unmapped: Calcification, Emphysema, Enlarged PA, ILD, Interstitial lung disease, Mediastinal shift,
            Pulmonary fibrosis, Other lesion
NIH ChestX-ray14 (BBox_List_2017 has 8 classes; Data_Entry has 14 findings):
  Atelectasis, Cardiomegaly, Consolidation, Edema, Pneumonia, Pneumothorax -> same name
  Effusion -> Pleural Effusion    Infiltrate / Infiltration -> Lung Opacity
  Mass, Nodule -> Lung Lesion     Pleural_Thickening -> Pleural Other
  unmapped: Emphysema, Fibrosis, Hernia
"""

from __future__ import annotations

VINDR_TO_CHEXPERT: dict[str, str] = {
    "aortic enlargement": "Enlarged Cardiomediastinum",
    "atelectasis": "Atelectasis",
    "cardiomegaly": "Cardiomegaly",
    "consolidation": "Consolidation",
    "edema": "Edema",
    "infiltration": "Lung Opacity",
    "lung opacity": "Lung Opacity",
    "nodule/mass": "Lung Lesion",
    "lung cavity": "Lung Lesion",
    "lung cyst": "Lung Lesion",
    "pleural effusion": "Pleural Effusion",
    "pleural thickening": "Pleural Other",
    "pneumothorax": "Pneumothorax",
    "rib fracture": "Fracture",
    "clavicle fracture": "Fracture",
}

NIH_TO_CHEXPERT: dict[str, str] = {
    "atelectasis": "Atelectasis",
    "cardiomegaly": "Cardiomegaly",
    "consolidation": "Consolidation",
    "edema": "Edema",
    "pneumonia": "Pneumonia",
    "pneumothorax": "Pneumothorax",
    "effusion": "Pleural Effusion",
    "infiltrate": "Lung Opacity",
    "infiltration": "Lung Opacity",
    "mass": "Lung Lesion",
    "nodule": "Lung Lesion",
    "pleural_thickening": "Pleural Other",
}

NO_FINDING_NAMES = {"no finding", "no findings"}


def to_chexpert(name: str, table: dict[str, str]) -> str | None:
    """The CheXpert observation a dataset class means, or None."""
    return table.get(name.strip().lower())


def is_no_finding(name: str) -> bool:
    return name.strip().lower() in NO_FINDING_NAMES
