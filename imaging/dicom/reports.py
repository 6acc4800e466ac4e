"""Reading a study's report out of a DICOM object: Encapsulated PDF or SR."""

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence


def structured_report_text(ds: Dataset) -> tuple[str, str]:
    """The title and the plain text of an SR document (PS3.3 C.17.3).

    Containers become headings; TEXT, CODE, NUM, DATE, TIME, PNAME and UIDREF
    items become "concept: value" lines. Spatial and image references are left
    out: they mean nothing to a reader of plain text.
    """
    title = _concept_name(ds) or "Report"
    lines: list[str] = []
    _walk(ds.get("ContentSequence") or Sequence(), lines, depth=0)
    return title[:200], "\n".join(lines).strip()


def _concept_name(item: Dataset) -> str:
    names = item.get("ConceptNameCodeSequence")
    if not names:
        return ""
    return str(names[0].get("CodeMeaning", "") or "").strip()


def _walk(sequence: Sequence, lines: list[str], depth: int) -> None:
    for item in sequence:
        name = _concept_name(item)
        value_type = str(item.get("ValueType", "") or "")
        if value_type == "CONTAINER":
            if name:
                lines.append("")
                lines.append(name)
            _walk(item.get("ContentSequence") or Sequence(), lines, depth + 1)
            continue
        value = _item_value(item, value_type)
        if value:
            lines.append(f"{name}: {value}" if name else value)
        if "ContentSequence" in item:
            _walk(item.ContentSequence, lines, depth + 1)


def _item_value(item: Dataset, value_type: str) -> str:
    if value_type == "TEXT":
        return str(item.get("TextValue", "") or "").strip()
    if value_type == "CODE":
        codes = item.get("ConceptCodeSequence")
        return str(codes[0].get("CodeMeaning", "")) if codes else ""
    if value_type == "NUM":
        measured = item.get("MeasuredValueSequence")
        if not measured:
            return ""
        units = measured[0].get("MeasurementUnitsCodeSequence")
        unit = str(units[0].get("CodeValue", "")) if units else ""
        return f"{measured[0].get('NumericValue', '')} {unit}".strip()
    if value_type in {"DATE", "TIME", "DATETIME", "UIDREF", "PNAME"}:
        keyword = {"DATE": "Date", "TIME": "Time", "DATETIME": "DateTime", "UIDREF": "UID", "PNAME": "PersonName"}
        return str(item.get(keyword[value_type], "") or "")
    return ""


def encapsulated_document(ds: Dataset) -> bytes:
    """The PDF inside an Encapsulated PDF object, without its even-length pad."""
    document = bytes(ds.EncapsulatedDocument)
    length = ds.get("EncapsulatedDocumentLength")
    if length:
        return document[: int(length)]
    return document.rstrip(b"\0") if document.endswith(b"\0") else document
