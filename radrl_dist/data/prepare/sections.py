"""FINDINGS / IMPRESSION extraction from MIMIC-CXR free-text reports (files/pXX/pID/sID.txt).

The reports are de-identified free text with upper-case headers at line starts ("FINDINGS:",
"IMPRESSION:", "INDICATION:", sometimes "FINDINGS AND IMPRESSION:"), a "FINAL REPORT" banner and
"___" for removed words. We split on those headers, as MIMIC-CXR's own section script does in
spirit; text before the first header (the banner, an addendum) belongs to no section.
"""

from __future__ import annotations

import re

# A header: start of line, upper-case words (letters, spaces, / & -), a colon.
_HEADER = re.compile(r"^[ \t]*([A-Z][A-Z /&\-]{1,60}?)[ \t]*:", re.MULTILINE)
FINDINGS_NAMES = {"FINDINGS", "FINDING"}
IMPRESSION_NAMES = {"IMPRESSION", "IMPRESSIONS", "CONCLUSION", "CONCLUSIONS"}


def _clean(text: str) -> str:
    return " ".join(text.split())


def split_sections(text: str) -> dict[str, str]:
    """Header (upper-case, single-spaced) -> its text; repeated headers are concatenated."""
    out: dict[str, str] = {}
    matches = list(_HEADER.finditer(text))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        name = " ".join(m.group(1).split())
        body = _clean(text[m.end():end])
        out[name] = f"{out[name]} {body}".strip() if name in out else body
    return out


def findings_impression(text: str) -> tuple[str, str, str]:
    """(findings, impression, indication) of a report; '' where the section is absent.

    A combined "FINDINGS AND IMPRESSION" section counts as findings and as impression.
    """
    findings, impression, indication = [], [], ""
    for name, body in split_sections(text).items():
        words = set(name.replace("/", " ").replace("&", " ").split())
        if name in FINDINGS_NAMES or ("FINDINGS" in words and "IMPRESSION" in words):
            findings.append(body)
        if name in IMPRESSION_NAMES or ("FINDINGS" in words and "IMPRESSION" in words):
            impression.append(body)
        if name in ("INDICATION", "HISTORY", "CLINICAL HISTORY") and not indication:
            indication = body
    return " ".join(f for f in findings if f), " ".join(i for i in impression if i), indication


def report_text(findings: str, impression: str, section: str) -> str:
    """The reference text for `--section` findings | impression | both (findings then impression)."""
    if section == "findings":
        return findings
    if section == "impression":
        return impression
    if section == "both":  # a combined FINDINGS AND IMPRESSION section must not appear twice
        return findings if impression and impression in findings else " ".join(p for p in (findings, impression) if p)
    raise ValueError(f"section must be findings, impression or both, got {section!r}")


def missing_reason(section: str) -> str:
    """The filter reason for a report that has text but not the section asked for."""
    return "no_findings_or_impression" if section == "both" else f"no_{section}_section"
