"""Migration imaging.0014: the studies held before the index counted images get their count."""

import importlib

import pytest
from django.apps import apps

from imaging.models import Hospital, Study
from tests.support.dicom import ALICE, BOB
from tests.support.exams import make_exam

pytestmark = pytest.mark.django_db

backfill = importlib.import_module("imaging.migrations.0014_study_number_of_images")


def test_it_counts_the_images_of_every_study_held(hospital: Hospital) -> None:
    with_report = make_exam(hospital, ALICE, "held-pdf", slices=3, report="pdf").study
    without = make_exam(hospital, BOB, "held-none", slices=2, report="none").study
    Study.objects.update(number_of_images=0)  # as the column was added: nothing counted yet
    backfill.count_images(apps, None)
    counted = dict(Study.objects.values_list("pk", "number_of_images"))
    assert counted == {with_report.pk: 3, without.pk: 2}
    assert Study.objects.get(pk=with_report.pk).number_of_instances == 4  # the report is an instance, not an image
