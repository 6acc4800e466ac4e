"""Ingest as the listener does it, with a flush that fails: rows left marked unflushed."""

import errno

import pytest

from imaging.ingest import FlushLedger, IngestUnavailable, ingest_instance
from imaging.models import Hospital
from tests.support.dicom import ct_bytes


def failing_flush(key: str) -> None:
    raise OSError(errno.EIO, "Input/output error")


def store_with_failing_flush(
    hospital: Hospital, ledger: FlushLedger, monkeypatch: pytest.MonkeyPatch, numbers: tuple[int, ...]
) -> None:
    """CT slices `numbers` stored while every flush fails: each sender told 0xA700, each row marked."""
    with monkeypatch.context() as patch:
        patch.setattr("imaging.ingest.fast_path.flush", failing_flush)
        for number in numbers:
            with pytest.raises(IngestUnavailable, match=r"cannot flush the file: .*Input/output error"):
                ingest_instance(ct_bytes(number=number), hospital, ledger=ledger)
