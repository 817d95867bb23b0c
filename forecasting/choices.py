"""Choices of the forecasting app: the forecast parameters and the diagnosed causes."""

from __future__ import annotations

from django.db import models


class Parameter(models.TextChoices):
    """Parameters with a fleet model (column names of the daily rollups, without ``_avg``)."""

    DCR = "dcr", "DCR"
    VOLTAGE = "voltage", "voltage"
    EMF = "emf", "EMF"
    MICRO_VOLTAGE = "micro_voltage", "micro-discharge voltage"


class Cause(models.TextChoices):
    """Diagnosed causes (``forecasting.engine.diagnosis.CAUSES`` plus "none")."""

    NONE = "none", "no deterioration found"
    OPEN_CELL = "open_cell", "open cell"
    THERMAL_RUNAWAY = "thermal_runaway", "thermal-runaway risk"
    SHORTED_CELL = "shorted_cell", "shorted cell"
    CONNECTION = "connection", "connection problem"
    DRY_OUT = "dry_out", "dry-out"
    SULFATION = "sulfation", "sulfation"
    OVERCHARGE = "overcharge", "overcharge"
    UNDERCHARGE = "undercharge", "undercharge"
    GRID_CORROSION = "grid_corrosion", "grid corrosion"
