from django.db import models


class Chemistry(models.TextChoices):
    VRLA = "vrla", "VRLA (valve-regulated lead-acid)"
    VLA = "vla", "VLA (vented lead-acid)"
    NICD = "nicd", "NiCd"
    LI_ION = "li-ion", "Li-ion"


class UnitType(models.TextChoices):
    """BMU measuring type from the brochure: L for 1.2 V/2 V cells, H for 6 V/12 V blocks."""

    L = "L", "L type (1.2 V / 2 V cells)"
    H = "H", "H type (6 V / 12 V blocks)"


class BusKind(models.TextChoices):
    RTU = "rtu", "Modbus RTU (RS-485 serial)"
    TCP = "tcp", "Modbus TCP"


class Parity(models.TextChoices):
    NONE = "N", "none"
    EVEN = "E", "even"
    ODD = "O", "odd"


class BatteryStatus(models.TextChoices):
    IN_SERVICE = "in_service", "in service"
    REPLACED = "replaced", "replaced"
    SPARE = "spare", "spare"


class Role(models.TextChoices):
    """What a site member may do. Admins are superusers and need no membership."""

    MANAGER = "manager", "facility manager"
    VIEWER = "viewer", "viewer"
