"""Device simulator: BMUs, CMUs and a relay module on Modbus TCP or RTU, with plausible physics.

Pure Python (no Django), so the edge agent's tests, the portal's demo and a person at a shell can
all run it. ``python -m acquisition.simulator --help`` for the command line; from Python::

    from acquisition.simulator import Scenario, Simulator, serve_tcp
    sim = Simulator(Scenario.default(units=8))
    sim.step(3600)             # one simulated hour
    sim.snapshot()["units"]["1"]["voltage"]
    await serve_tcp(sim, "127.0.0.1", 5020)
"""

from .modbus import serve_rtu, serve_tcp
from .scenario import FAULT_KINDS, Scenario, ScenarioError
from .simulator import Simulator

__all__ = ["FAULT_KINDS", "Scenario", "ScenarioError", "Simulator", "serve_rtu", "serve_tcp"]
