"""Create the demo fleet: 3 sites, their banks and batteries, demo users, agent configs."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sites import demo


class Command(BaseCommand):
    help = (
        "Create (or refresh) the demo fleet: 3 sites with 2-4 banks of 24-40 batteries, users "
        "admin/admin, manager/manager, viewer/viewer, and under --out the simulator scenarios and "
        "agent configs (with fresh gateway tokens) that `make demo` runs. Demo only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, default=settings.BASE_DIR / "var" / "demo")
        parser.add_argument("--portal-url", default=settings.PORTAL_URL)

    def handle(self, *args: object, out: Path, portal_url: str, **options: object) -> None:
        self.stdout.write("Seeding the demo fleet ...")
        sites = demo.seed()
        for d in sites:
            banks = d.site.banks.count()
            batteries = sum(b["count"] for b in d.scenario["banks"])
            self.stdout.write(f"  {d.site.name}: {banks} banks, {batteries} batteries")
        files = demo.write_runtime_files(sites, out, portal_url)
        self.stdout.write(f"  wrote {len(files)} simulator/agent files under {out}")
        self.stdout.write(
            self.style.SUCCESS("Demo users: admin/admin, manager/manager, viewer/viewer")
        )
