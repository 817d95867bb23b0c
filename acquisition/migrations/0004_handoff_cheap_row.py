import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("acquisition", "0003_alarmhandoff"),
        ("sites", "0002_reports"),
    ]

    operations = [
        migrations.AlterField(
            model_name="alarmhandoff",
            name="gateway",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="sites.gateway",
            ),
        ),
        # The payload (a few kB of unit ids) stays inline and uncompressed up to a full page:
        # pglz on every ingest request cost more than the bytes it saved on a row that lives for
        # a second. A larger row is still compressed and moved out of line as usual.
        migrations.RunSQL(
            "ALTER TABLE acquisition_alarmhandoff SET (toast_tuple_target = 8160)",
            "ALTER TABLE acquisition_alarmhandoff RESET (toast_tuple_target)",
        ),
    ]
