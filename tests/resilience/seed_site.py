"""Build the end-to-end site of ``tests.acquisition.e2e_helpers.make_e2e_site`` in the database of
``DATABASE_URL`` and print its ids and gateway token as one JSON line.

    python -m tests.resilience.seed_site UNITS SIMULATOR_PORT

For the tests whose portal runs on a private PostgreSQL that they stop and start.
"""

from __future__ import annotations

import json
import os
import sys

import django


def main(units: int, sim_port: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bms_portal.settings")
    django.setup()
    from tests.acquisition.e2e_helpers import make_e2e_site

    site = make_e2e_site(units, heartbeat_s=1, host="127.0.0.1", port=sim_port)
    out = {
        "token": site.token,
        "batteries": [b.pk for b in site.batteries],
        "bank": site.bank.pk,
        "scenario": site.scenario,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
