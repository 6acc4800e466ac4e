"""Exams for the portal tests: a patient's CT with a PDF report, another's with a text report."""

import datetime as dt
from dataclasses import dataclass

from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Instance, Series, Study
from imaging.synthetic import PatientSpec
from portal.exams.models import Download, DownloadKind
from portal.exams.tasks import request_download
from tests.support.dicom import ALICE, BOB, ct_bytes, study_spec
from tests.support.people import ALICE_PHONE, BOB_PHONE, link


@dataclass
class Exam:
    study: Study
    series: Series
    instance: Instance


def make_exam(
    hospital: Hospital,
    patient: PatientSpec,
    key: str,
    *,
    slices: int = 3,
    date: dt.date = dt.date(2026, 1, 5),
    report: str = "pdf",
) -> Exam:
    """A CT study of `slices` small images, with a PDF or text report (or none)."""
    spec = study_spec(key, patient=patient, date=date)
    for number in range(1, slices + 1):
        ingest_instance(ct_bytes(study=spec, number=number, z=float(number), size=16), hospital)
    if report == "pdf":
        document = synthetic.pdf_report(spec, f"CT report {key}", ["Findings: none.", "Impression: normal."])
        ingest_instance(synthetic.to_bytes(document), hospital)
    elif report == "text":
        document = synthetic.text_report(spec, f"No abnormality {key}.", "Normal study.")
        ingest_instance(synthetic.to_bytes(document), hospital)
    study = Study.objects.get(study_uid=spec.study_uid)
    series = study.series.get(modality="CT")
    return Exam(study, series, series.instances.in_anatomical_order().first())  # type: ignore[arg-type]


def make_download(exam: Exam, user_id: int, kind: DownloadKind = DownloadKind.DICOM) -> Download:
    return request_download(exam.study, kind, "", user_id)


def alices_exam_beside_bobs(hospital: Hospital, other_hospital: Hospital, key: str) -> Exam:
    """Alice's exam at one hospital and Bob's at another, both numbers linked: the share tests' region."""
    make_exam(other_hospital, BOB, f"bob-{key}")
    link(BOB_PHONE, other_hospital, BOB.patient_id)
    alice = make_exam(hospital, ALICE, f"alice-{key}")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    return alice
