"""Create the database cache table (``bms_cache``) when the cache is the database (no REDIS_URL).

``manage.py createcachetable`` does the same and is idempotent: run it after switching the cache
from Redis to the database on an already migrated install.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("bms_portal", "0002_api_tokens")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
