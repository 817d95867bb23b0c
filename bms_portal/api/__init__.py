"""What every API endpoint shares: token authentication, errors, rate limits, pagination, schema.

Imported by ``bms_portal.settings`` (``rates`` only), so this package's ``__init__`` stays empty.
"""
