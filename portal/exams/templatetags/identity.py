"""Whose exam it is, on any page that shows one: `{% exam_identity study full_name=requester.full_name %}`.

The patient's name (whole, or masked: portal.exams.identity), sex and age at the
exam, then the hospital and the exam date. Names are masked unless `full_name`
is given, so a page that forgets it shows too little, never too much; the
clinicians' reading view places the same tag. `|person_name` is the whole name
alone, for the staff's lists and slips.
"""

from typing import Any

from django import template
from django.utils.text import capfirst
from django.utils.translation import get_language

from imaging.models import Sex, Study
from portal.exams.identity import age_at_exam, shown_name

register = template.Library()


@register.inclusion_tag("exams/identity.html")
def exam_identity(study: Study, full_name: bool = False, description: bool = False) -> dict[str, Any]:
    """The study's patient and exam in two lines; with `description`, the study's before the hospital."""
    patient = study.patient
    return {
        "name": shown_name(patient.name, full=full_name, chinese_first=_chinese()),
        "masked": not full_name,
        "sex": capfirst(Sex(patient.sex).label) if patient.sex in Sex.values and patient.sex else "",
        "age": age_at_exam(patient.birth_date, study.study_date, study.patient_age),
        "description": study.description if description else "",
        "hospital": study.hospital.name,
        "date": study.study_date,
    }


@register.filter
def person_name(value: str) -> str:
    """A DICOM Person Name, whole, as people read it."""
    return shown_name(value, full=True, chinese_first=_chinese())


def _chinese() -> bool:
    return (get_language() or "").startswith("zh")
