"""The two partitioned readings tables (raw SQL: Django cannot declare partitioning).

Daily range partitions on ``ts``, no default partition (a default partition would silently swallow
readings and block creating the day's partition later). Partitions are created ahead by the
``manage_partitions`` command / daily task, and on demand by the ingest (storage.py). No foreign
key to sites_battery / sites_bank: see docs/storage.md.
"""

import datetime as dt

from django.db import migrations

READINGS = """
CREATE TABLE acquisition_reading (
    battery_id integer NOT NULL,
    ts timestamptz NOT NULL,
    voltage real,
    temperature real,
    dcr real,
    micro_voltage real,
    emf real,
    status smallint,
    CONSTRAINT acquisition_reading_pkey PRIMARY KEY (battery_id, ts)
) PARTITION BY RANGE (ts);
COMMENT ON TABLE acquisition_reading IS
    'BMU readings, daily partitions acquisition_reading_pYYYYMMDD; see docs/storage.md';
CREATE TABLE acquisition_bankreading (
    bank_id integer NOT NULL,
    ts timestamptz NOT NULL,
    string_voltage real,
    current real,
    ambient real,
    status smallint,
    CONSTRAINT acquisition_bankreading_pkey PRIMARY KEY (bank_id, ts)
) PARTITION BY RANGE (ts);
COMMENT ON TABLE acquisition_bankreading IS
    'CMU readings, daily partitions acquisition_bankreading_pYYYYMMDD; see docs/storage.md';
"""

DROP = "DROP TABLE IF EXISTS acquisition_reading; DROP TABLE IF EXISTS acquisition_bankreading;"


def create_first_partitions(apps, schema_editor):
    """Today and the next 7 days, so a fresh install ingests before the daily task first runs."""
    today = dt.datetime.now(dt.UTC).date()
    with schema_editor.connection.cursor() as cursor:
        for n in range(8):
            day = today + dt.timedelta(n)
            for table in ("acquisition_reading", "acquisition_bankreading"):
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {table}_p{day:%Y%m%d} PARTITION OF {table} "
                    f"FOR VALUES FROM ('{day} 00:00:00+00') "
                    f"TO ('{day + dt.timedelta(1)} 00:00:00+00')"
                )


class Migration(migrations.Migration):
    dependencies = [("acquisition", "0001_initial")]

    operations = [
        migrations.RunSQL(READINGS, DROP),
        migrations.RunPython(create_first_partitions, migrations.RunPython.noop),
    ]
