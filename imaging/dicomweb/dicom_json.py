"""Attributes in the DICOM JSON Model (PS3.18 F.2), as STOW-RS and QIDO-RS answers write them."""

import datetime as dt
from typing import Any

__all__ = ["element"]


def element(vr: str, value: Any) -> dict[str, Any]:
    """One attribute in DICOM JSON (PS3.18 F.2); an empty value has no Value."""
    if value is None or value == "" or value == []:
        return {"vr": vr}
    if vr == "PN":
        return {"vr": vr, "Value": [{"Alphabetic": str(value)}]}
    if vr == "DA" and isinstance(value, dt.date):
        value = value.strftime("%Y%m%d")
    if vr == "TM" and isinstance(value, dt.time):
        value = value.strftime("%H%M%S.%f" if value.microsecond else "%H%M%S")
    values = value if isinstance(value, list) else [value]
    return {"vr": vr, "Value": values}
