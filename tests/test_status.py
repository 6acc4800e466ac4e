"""imaging.dicom.status: the codes the region sends, each where the standard files it."""

from imaging.dicom.status import GENERAL_STATUS, STORAGE_STATUS, Category, ErrorComment, Status, category


def test_it_files_every_status_the_listener_sends_under_its_category() -> None:
    found = {status: category(status) for status in Status}
    assert found == {status: Category.SUCCESS if status == Status.SUCCESS else Category.FAILURE for status in Status}


def test_it_answers_verification_and_commitment_from_the_general_statuses() -> None:
    for status in (Status.SUCCESS, Status.PROCESSING_FAILURE, Status.MISSING_ATTRIBUTE, Status.NO_SUCH_ACTION):
        assert category(status, GENERAL_STATUS) is not None


def test_it_spells_out_the_ranges_of_a_c_store() -> None:
    assert STORAGE_STATUS[0xA7FF] == (Category.FAILURE, "Refused: Out of Resources")
    assert STORAGE_STATUS[0xA9A9] == (Category.FAILURE, "Error: Data Set Does Not Match SOP Class")
    assert STORAGE_STATUS[0xCFFF] == (Category.FAILURE, "Error: Cannot Understand")
    assert category(0xB000) == Category.WARNING
    assert category(0xD000) is None


def test_it_gives_the_regions_own_codes_their_meaning_within_cannot_understand() -> None:
    assert STORAGE_STATUS[Status.CONFLICT][1].startswith("Cannot Understand: different bytes")
    assert STORAGE_STATUS[0xC000] == (Category.FAILURE, "Error: Cannot Understand")


def test_it_keeps_the_listeners_fixed_comments_within_an_error_comment() -> None:
    fixed = [comment for comment in ErrorComment if "{" not in comment]
    assert fixed
    assert all(len(comment) <= 64 for comment in fixed)  # (0000,0902) is an LO
