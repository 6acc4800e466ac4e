"""Whose exam it is (portal.exams.identity): names shown whole and masked, ages at the exam."""

import datetime as dt

import pytest
from django.utils import translation

from portal.exams.identity import Age, age_at_exam, age_from_string, age_on, person_name, shown_name

# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("dicom", "full", "masked"),
    [
        ("Smith^John", "Smith, John", "Smith *"),
        ("SMITH^JOHN^A^DR^JR", "Smith, John A Jr", "Smith *"),
        ("O'BRIEN^MARY", "O'Brien, Mary", "O'Brien *"),
        ("van der Berg^Anna", "van der Berg, Anna", "van der Berg *"),
        ("Smith", "Smith", "Smith *"),
        ("^John", "John", "*"),
        ("ZHANG SAN", "Zhang San", "Zhang *"),
    ],
)
def test_it_shows_latin_names_family_first_and_masks_all_but_the_family_name(
    dicom: str, full: str, masked: str
) -> None:
    assert shown_name(dicom, full=True) == full
    assert shown_name(dicom, full=False) == masked


@pytest.mark.parametrize(
    ("dicom", "full", "masked"),
    [
        ("张三", "张三", "张*"),
        ("张^三", "张三", "张*"),
        ("王^小明", "王小明", "王*"),
        ("欧阳娜娜", "欧阳娜娜", "欧阳*"),
        ("欧阳^娜娜", "欧阳娜娜", "欧阳*"),
        ("欧阳", "欧阳", "欧*"),
        ("李", "李", "李*"),
    ],
)
def test_it_runs_chinese_names_together_and_masks_them_to_the_surname(dicom: str, full: str, masked: str) -> None:
    assert shown_name(dicom, full=True) == full
    assert shown_name(dicom, full=False) == masked


def test_it_never_says_how_long_the_masked_part_is() -> None:
    assert shown_name("司马^相如", full=False) == shown_name("司马^光", full=False) == "司马*"


def test_it_shows_the_ideographic_name_in_chinese_and_the_alphabetic_one_in_english() -> None:
    dicom = "Zhang^San=张^三=zhang^san"
    assert shown_name(dicom, full=True, chinese_first=True) == "张三"
    assert shown_name(dicom, full=False, chinese_first=True) == "张*"
    assert shown_name(dicom, full=True) == "Zhang, San"
    assert shown_name(dicom, full=False) == "Zhang *"


def test_it_falls_back_to_the_group_that_is_there() -> None:
    assert shown_name("=张^三", full=True) == "张三"
    assert shown_name("Zhang^San=", full=True, chinese_first=True) == "Zhang, San"


@pytest.mark.parametrize("dicom", ["", "^", "^^^^", "=", "  "])
def test_it_shows_nothing_for_an_empty_name(dicom: str) -> None:
    assert shown_name(dicom, full=True) == ""
    assert shown_name(dicom, full=False) == ""


def test_it_tells_a_known_family_name_from_a_guessed_one() -> None:
    assert person_name("Smith^John").separated
    assert not person_name("John Smith").separated
    assert person_name("张^三").chinese
    assert not person_name("Smith^John").chinese


# ---------------------------------------------------------------- ages


def test_it_counts_a_year_from_the_birthday_itself() -> None:
    born = dt.date(1980, 1, 2)
    assert age_on(born, dt.date(2026, 1, 1)) == Age(45, "Y")
    assert age_on(born, dt.date(2026, 1, 2)) == Age(46, "Y")
    assert age_on(born, dt.date(2026, 1, 3)) == Age(46, "Y")


def test_it_counts_a_29_february_birthday_from_1_march_in_other_years() -> None:
    born = dt.date(2000, 2, 29)
    assert age_on(born, dt.date(2023, 2, 28)) == Age(22, "Y")
    assert age_on(born, dt.date(2023, 3, 1)) == Age(23, "Y")
    assert age_on(born, dt.date(2024, 2, 29)) == Age(24, "Y")


def test_it_gives_a_babys_age_in_months_and_a_newborns_in_days() -> None:
    born = dt.date(2025, 11, 20)
    assert age_on(born, dt.date(2025, 11, 20)) == Age(0, "D")
    assert age_on(born, dt.date(2025, 12, 19)) == Age(29, "D")
    assert age_on(born, dt.date(2025, 12, 20)) == Age(1, "M")
    assert age_on(born, dt.date(2026, 11, 19)) == Age(11, "M")
    assert age_on(born, dt.date(2026, 11, 20)) == Age(1, "Y")


def test_it_has_no_age_for_an_exam_before_the_birth_date() -> None:
    assert age_on(dt.date(2026, 1, 2), dt.date(2026, 1, 1)) is None


@pytest.mark.parametrize(
    ("value", "age"),
    [
        ("045Y", Age(45, "Y")),
        ("006M", Age(6, "M")),
        ("003W", Age(3, "W")),
        ("010D", Age(10, "D")),
        ("45Y", Age(45, "Y")),
        (" 045y ", Age(45, "Y")),
    ],
)
def test_it_reads_a_dicom_age_string(value: str, age: Age) -> None:
    assert age_from_string(value) == age


@pytest.mark.parametrize("value", ["", "045", "Y", "45 years", "0045Y", "045X", "-45Y"])
def test_it_ignores_what_is_not_an_age_string(value: str) -> None:
    assert age_from_string(value) is None


def test_it_prefers_the_birth_date_to_the_age_the_modality_wrote() -> None:
    assert age_at_exam(dt.date(1980, 1, 2), dt.date(2026, 1, 5), "040Y") == Age(46, "Y")


def test_it_takes_the_dicom_age_without_a_birth_date_or_an_exam_date() -> None:
    assert age_at_exam(None, dt.date(2026, 1, 5), "045Y") == Age(45, "Y")
    assert age_at_exam(dt.date(1980, 1, 2), None, "006M") == Age(6, "M")
    assert age_at_exam(dt.date(2027, 1, 2), dt.date(2026, 1, 5), "045Y") == Age(45, "Y")


def test_it_has_no_age_without_a_birth_date_or_an_age_string() -> None:
    assert age_at_exam(None, dt.date(2026, 1, 5), "") is None
    assert age_at_exam(None, None) is None


@pytest.mark.parametrize(
    ("age", "en", "zh"),
    [
        (Age(46, "Y"), "46 years", "46岁"),
        (Age(1, "Y"), "1 year", "1岁"),
        (Age(6, "M"), "6 months", "6个月"),
        (Age(3, "W"), "3 weeks", "3周"),
        (Age(10, "D"), "10 days", "10天"),
    ],
)
def test_it_says_an_age_in_the_interfaces_language(age: Age, en: str, zh: str) -> None:
    with translation.override("en"):
        assert str(age) == en
    with translation.override("zh-hans"):
        assert str(age) == zh
