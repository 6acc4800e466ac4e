"""Whose exam it is: the patient's name as people read it (masked on a share), and their age at the exam.

Pure functions of what the index keeps, so that every page showing an exam
(the exam pages, the viewers, the staff's and the clinicians' reading views)
says it the same way; the `exam_identity` tag (portal.exams.templatetags.identity)
places them.

- A name is a DICOM Person Name (PS3.5 6.2): up to three component groups,
  alphabetic=ideographic=phonetic, each `Family^Given^Middle^Prefix^Suffix`.
  Shown: Chinese (ideographic) names run together ("张^三" is 张三), Latin ones as
  "Family, Given Middle Suffix", capitalised when the sender wrote them all in
  capitals. A name without "^" is shown as written.
- Masked: the family name, then "*" (张*, "Smith *"), never saying how long the
  rest is. Without "^" the family name is guessed: a Chinese name's first
  character (two for a compound surname such as 欧阳), a Latin name's first word.
- Age at the exam: from the birth date and the exam date (a birthday counts from
  its day; one on 29 February from 1 March in other years), in years from one
  year, in months under a year, in days under a month; without both dates, the
  Patient's Age the modality wrote (PS3.5 6.2 AS: "045Y", "006M", "003W", "010D").
"""

import datetime as dt
import re
from dataclasses import dataclass

from django.utils.translation import ngettext

NAME_GROUPS = "="
NAME_COMPONENTS = "^"
MASK = "*"
# CJK Unified Ideographs with Extension A, and the compatibility block.
CHINESE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Common two-character surnames (复姓): without a "^" the first character alone would cut them in half.
COMPOUND_SURNAMES = frozenset(
    {
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "夏侯", "轩辕", "令狐", "独孤", "南宫", "西门", "端木", "百里",
        "呼延", "申屠", "太史", "闻人", "澹台", "公冶", "宗政", "濮阳", "淳于", "钟离",
    }
)  # fmt: skip
AGE_STRING = re.compile(r"(\d{1,3})([DWMY])")


@dataclass(frozen=True)
class PersonName:
    """One component group of a Person Name: the family name and the rest, in reading order."""

    family: str
    rest: tuple[str, ...]
    chinese: bool
    separated: bool  # written with "^", so `family` is known, not guessed

    @property
    def full(self) -> str:
        if self.chinese:
            return self.family + "".join(self.rest)
        if self.separated and self.family and self.rest:
            return f"{self.family}, {' '.join(self.rest)}"
        return " ".join((self.family, *self.rest)).strip()

    @property
    def masked(self) -> str:
        if not self.family:
            return MASK if self.rest else ""
        return self.family + MASK if self.chinese else f"{self.family} {MASK}"


def person_name(value: str, *, chinese_first: bool = False) -> PersonName:
    """The group of a DICOM Person Name to show: the ideographic one first when `chinese_first`
    (a Chinese interface), else the alphabetic one; the other when that one is empty."""
    groups = [group.strip() for group in value.split(NAME_GROUPS)[:3]] + ["", ""]
    alphabetic, ideographic, phonetic = groups[0], groups[1], groups[2]
    order = (ideographic, alphabetic, phonetic) if chinese_first else (alphabetic, ideographic, phonetic)
    group = next((g for g in order if g.strip(NAME_COMPONENTS + " ")), "")
    if NAME_COMPONENTS in group:
        return _separated(group)
    return _unseparated(" ".join(group.split()))


def _separated(group: str) -> PersonName:
    parts = [part.strip() for part in group.split(NAME_COMPONENTS)] + [""] * 4
    # The prefix (parts[3]: Mr, Dr) says nothing of who the patient is; a suffix (Jr, III) does.
    family, given, middle, suffix = parts[0], parts[1], parts[2], parts[4]
    if CHINESE.search(group):
        return PersonName(family, tuple(p for p in (given, middle) if p), chinese=True, separated=True)
    rest = tuple(_capitalised(p) for p in (given, middle, suffix) if p)
    return PersonName(_capitalised(family), rest, chinese=False, separated=True)


def _unseparated(text: str) -> PersonName:
    if CHINESE.search(text):
        cut = 2 if text[:2] in COMPOUND_SURNAMES and len(text) > 2 else 1
        return PersonName(text[:cut], (text[cut:],) if text[cut:] else (), chinese=True, separated=False)
    family, _, rest = _capitalised(text).partition(" ")
    return PersonName(family, (rest,) if rest else (), chinese=False, separated=False)


def _capitalised(text: str) -> str:
    """A Latin name written all in capitals (as many modalities do), as people write it."""
    return text.title() if text.isupper() else text


def shown_name(value: str, *, full: bool, chinese_first: bool = False) -> str:
    """The name a page shows: whole for the patient and staff, masked for a share."""
    name = person_name(value, chinese_first=chinese_first)
    return name.full if full else name.masked


@dataclass(frozen=True)
class Age:
    """An age as DICOM's AS writes it: a count of days (D), weeks (W), months (M) or years (Y)."""

    count: int
    unit: str

    def __str__(self) -> str:
        n = {"count": self.count}
        if self.unit == "Y":
            return ngettext("%(count)s year", "%(count)s years", self.count) % n
        if self.unit == "M":
            return ngettext("%(count)s month", "%(count)s months", self.count) % n
        if self.unit == "W":
            return ngettext("%(count)s week", "%(count)s weeks", self.count) % n
        return ngettext("%(count)s day", "%(count)s days", self.count) % n


def age_on(birth_date: dt.date, day: dt.date) -> Age | None:
    """The age on `day` of someone born on `birth_date`; None when `day` is before it."""
    if day < birth_date:
        return None
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    years = day.year - birth_date.year - before_birthday
    if years >= 1:
        return Age(years, "Y")
    months = (day.year - birth_date.year) * 12 + day.month - birth_date.month - (day.day < birth_date.day)
    if months >= 1:
        return Age(months, "M")
    return Age((day - birth_date).days, "D")


def age_from_string(value: str) -> Age | None:
    """A Patient's Age (AS, PS3.5 6.2) such as "045Y"; None when it is empty or not one."""
    match = AGE_STRING.fullmatch(value.strip().upper())
    return Age(int(match[1]), match[2]) if match else None


def age_at_exam(birth_date: dt.date | None, exam_date: dt.date | None, patient_age: str = "") -> Age | None:
    """The patient's age at the exam: from the two dates when the index has both, else the AS value."""
    if birth_date is not None and exam_date is not None:
        age = age_on(birth_date, exam_date)
        if age is not None:
            return age
    return age_from_string(patient_age)
