"""Hospitals price their film in yuan by default (issue 18): CNY and ¥8.50 a film instead of US$1.20.

A hospital still at the old defaults (USD, 1.20), which nobody set, moves to the
new ones, the same price in yuan; one whose currency or price was set keeps them.
"""

from decimal import Decimal
from typing import Any

from django.db import migrations, models

OLD_DEFAULTS = {"currency": "USD", "film_price": Decimal("1.20")}
NEW_DEFAULTS = {"currency": "CNY", "film_price": Decimal("8.50")}


def to_yuan(apps: Any, schema_editor: Any) -> None:
    apps.get_model("imaging", "Hospital").objects.filter(**OLD_DEFAULTS).update(**NEW_DEFAULTS)


class Migration(migrations.Migration):
    dependencies = [
        ("imaging", "0014_study_number_of_images"),
    ]

    operations = [
        migrations.AlterField(
            model_name="hospital",
            name="currency",
            field=models.CharField(
                choices=[
                    ("CNY", "Chinese yuan (CNY)"),
                    ("HKD", "Hong Kong dollar (HKD)"),
                    ("MOP", "Macao pataca (MOP)"),
                    ("USD", "US dollar (USD)"),
                    ("EUR", "Euro (EUR)"),
                ],
                default="CNY",
                max_length=3,
                verbose_name="currency",
            ),
        ),
        migrations.AlterField(
            model_name="hospital",
            name="film_price",
            field=models.DecimalField(
                decimal_places=2, default=Decimal("8.50"), max_digits=8, verbose_name="price of a printed film"
            ),
        ),
        # Not undone: a hospital set to CNY 8.50 since cannot be told from one moved here.
        migrations.RunPython(to_yuan, migrations.RunPython.noop, elidable=True),
    ]
