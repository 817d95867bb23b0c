"""The simulator's physics and scenario validation, through its Python API (no network)."""

from __future__ import annotations

import pytest

from acquisition import registermap as rm
from acquisition.simulator import Scenario, ScenarioError, Simulator

YEAR = 365 * 86400.0


def bank(**fields: object) -> dict[str, object]:
    spec: dict[str, object] = {"cmu": 1, "unit_type": "H", "first_address": 2, "count": 4}
    spec.update(fields)
    return spec


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_default_scenario_serves_h_blocks_on_float_within_brochure_ranges() -> None:
    sim = Simulator(Scenario.default(units=5))
    units = sim.snapshot()["units"]
    assert sorted(units, key=int) == ["1", "2", "3", "4", "5"]
    for values in units.values():
        for name in rm.BMU_PARAMETERS:
            assert values[name] in rm.RANGES["H"][name], (name, values)
        assert 13.4 < values["voltage"] < 13.85  # float voltage 13.62 V with spread and accuracy
        assert values["micro_voltage"] < values["voltage"]
        assert 12.6 < values["emf"] < 13.1  # open-circuit voltage of a full 12 V block
        assert values["status"] == 0
        assert values["dcr_seq"] == 1  # power-on measurement


def test_time_factor_zero_freezes_values_noise_included() -> None:
    clock = FakeClock()
    sim = Simulator(Scenario.default(units=3, time_factor=0), clock=clock)
    before = sim.snapshot()
    clock.now += 3600
    sim.sync()
    assert sim.snapshot() == before


def test_ageing_follows_simulated_time_at_high_time_factor() -> None:
    clock = FakeClock()
    scenario = Scenario.from_dict({"time_factor": YEAR, "banks": [bank(age_days=365)]})
    sim = Simulator(scenario, clock=clock)
    before = {a: u["dcr"] for a, u in sim.snapshot()["units"].items() if u["kind"] == "bmu"}
    for _ in range(4):  # four real seconds = four simulated years
        clock.now += 1.0
        sim.sync()
    after = sim.snapshot()
    assert after["time_s"] == pytest.approx(4 * YEAR)
    for address, dcr in before.items():
        assert after["units"][address]["dcr"] > dcr * 1.10  # scheduled measurements saw the rise
        assert after["units"][address]["dcr_seq"] > 1000


def test_dry_out_raises_dcr_faster_than_ageing() -> None:
    scenario = Scenario.from_dict(
        {"banks": [bank()], "faults": [{"address": 3, "kind": "dry_out", "severity": 1.0}]}
    )
    sim = Simulator(scenario)
    start = sim.snapshot()["units"]
    sim.step(90 * 86400.0)
    end = sim.snapshot()["units"]
    healthy = end["2"]["dcr"] / start["2"]["dcr"]
    dried = end["3"]["dcr"] / start["3"]["dcr"]
    assert healthy < 1.05
    assert dried > 2.5
    assert end["3"]["voltage"] > end["2"]["voltage"]  # dry-out floats high


def test_discharge_drops_voltage_and_recharge_returns_to_float() -> None:
    scenario = Scenario.from_dict(
        {
            "banks": [bank()],
            "load_events": [{"bank_cmu": 1, "at_s": 600, "duration_s": 1800, "current": -50.0}],
        }
    )
    sim = Simulator(scenario)
    sim.step(300)
    float_v = sim.snapshot()["units"]["2"]["voltage"]
    sim.step(1500)  # 1200 s into the discharge
    during = sim.snapshot()["units"]
    assert during["1"]["current"] == pytest.approx(-50.0, abs=0.5)
    assert during["2"]["voltage"] < float_v - 0.5
    assert during["2"]["micro_voltage"] < during["2"]["voltage"]
    assert during["1"]["string_voltage"] == pytest.approx(
        sum(during[str(a)]["voltage"] for a in range(2, 6)), rel=0.01
    )
    sim.step(1200)  # the load event ended 600 s ago
    assert sim.snapshot()["units"]["1"]["current"] > 0  # charger recharging
    sim.step(2 * 86400)
    after = sim.snapshot()["units"]
    assert after["2"]["voltage"] == pytest.approx(float_v, abs=0.15)
    assert 0 < after["1"]["current"] < 1.0  # back on float current


def test_thermal_runaway_heats_the_block_and_multiplies_float_current() -> None:
    sim = Simulator(Scenario.from_dict({"ambient_c": 24.0, "banks": [bank()]}))
    sim.step(3600)
    normal = sim.snapshot()["units"]
    sim.inject(4, "thermal_runaway", 1.0)
    sim.step(3 * 3600)
    hot = sim.snapshot()["units"]
    assert hot["4"]["temperature"] > hot["1"]["ambient"] + 25
    assert hot["1"]["current"] >= 4 * normal["1"]["current"]
    assert hot["4"]["voltage"] < hot["2"]["voltage"]
    sim.clear(4)
    sim.step(6 * 3600)
    assert sim.snapshot()["units"]["4"]["temperature"] < hot["1"]["ambient"] + 5


def test_sulfation_lowers_emf_and_micro_discharge_voltage() -> None:
    scenario = Scenario.from_dict(
        {"banks": [bank()], "faults": [{"address": 5, "kind": "sulfation", "severity": 1.0}]}
    )
    sim = Simulator(scenario)
    sim.step(30 * 86400)
    units = sim.snapshot()["units"]
    assert units["5"]["emf"] < units["2"]["emf"] - 0.15
    drop = units["5"]["voltage"] - units["5"]["micro_voltage"]
    assert drop > 3 * (units["2"]["voltage"] - units["2"]["micro_voltage"])
    assert units["5"]["dcr"] > units["2"]["dcr"] * 1.3


def test_open_cell_fails_the_dcr_measurement_and_flags_open_circuit() -> None:
    sim = Simulator(Scenario.from_dict({"banks": [bank()]}))
    seq = sim.snapshot()["units"]["3"]["dcr_seq"]
    sim.inject(3, "open_cell")
    sim.step(5)
    unit = sim.snapshot()["units"]["3"]
    status = rm.BmuStatus(unit["status"])
    assert rm.BmuStatus.DCR_FAILED in status and rm.BmuStatus.OPEN_CIRCUIT in status
    assert unit["dcr"] not in rm.RANGES["H"]["dcr"]
    assert unit["dcr_seq"] == seq + 1
    assert sim.snapshot()["units"]["1"]["current"] == 0.0  # the string is open


def test_every_unit_has_a_unique_serial_and_its_identity() -> None:
    sim = Simulator(
        Scenario.from_dict(
            {
                "relay": 247,
                "banks": [
                    bank(),
                    bank(cmu=None, unit_type="L", nominal_voltage=2.0, first_address=10, count=3),
                ],
            }
        )
    )
    serials = set()
    for address in sim.scenario.addresses():
        regs = sim.input_registers(address)
        ident = rm.BMU_IDENTITY.decode([regs[100 + i] for i in range(4)] + [regs.get(104, 0)])
        serials.add(ident["serial"])
        expected = {
            2: rm.UnitType.BMU_H,
            10: rm.UnitType.BMU_L,
            1: rm.UnitType.CMU,
            247: rm.UnitType.RELAY,
        }.get(address)
        if expected is not None:
            assert ident["unit_type"] == expected
    assert len(serials) == len(sim.scenario.addresses())
    assert sim.snapshot()["units"]["10"]["voltage"] == pytest.approx(2.27, abs=0.03)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"banks": [bank(), bank(first_address=10, count=300)]}, "banks[1].count: must be 1..254"),
        ({"banks": [bank(), bank(cmu=4, first_address=30)]}, "banks[1].cmu: address 4 already"),
        ({"banks": [bank(), bank(cmu=9, first_address=5)]}, "banks[1].first_address/count"),
        ({"banks": [bank()], "relay": 3}, "relay: address 3 already used by banks[0]"),
        ({"banks": [bank(unit_type="X")]}, "banks[0].unit_type: must be one of L, H"),
        (
            {"banks": [bank(nominal_voltage=24)]},
            "banks[0].nominal_voltage: type H must be 6 or 12 or 12.8",
        ),
        ({"banks": [bank(capacty_ah=100)]}, "banks[0].capacty_ah: unknown key"),
        ({"banks": [bank()], "faults": [{"address": 3, "kind": "melt"}]}, "faults[0].kind"),
        (
            {"banks": [bank()], "faults": [{"address": 1, "kind": "dry_out"}]},
            "faults[0].address: 1 is not a BMU",
        ),
        (
            {
                "banks": [bank()],
                "load_events": [{"bank_cmu": 2, "at_s": 0, "duration_s": 1, "current": -1}],
            },
            "load_events[0].bank_cmu",
        ),
        ({"banks": []}, "banks: must be a non-empty list"),
        ({"banks": [bank()], "time_factor": -1}, "time_factor: must be 0.."),
    ],
)
def test_invalid_scenario_names_the_bad_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError) as excinfo:
        Scenario.from_dict(data)
    assert message in str(excinfo.value)
