"""PowerMeter (CS3D Eq. 4) with injected fake sensors, fake Jetson/RAPL sysfs trees, fake NVML."""

from __future__ import annotations

import os
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from snnfer.energy import PowerMeter, PowerSource
from snnfer.energy.power import integrate
from snnfer.energy.power_sources import JetsonSource, NvmlSource, RaplSource, open_source
from snnfer.errors import ArgumentError, SensorNotFoundError, UnknownNameError

TICK = 0.01


class FakeClock:
    """Time advances only when told: integer ticks of 10 ms, so sums are exact."""

    def __init__(self) -> None:
        self.ticks = 0
        self.lock = threading.Lock()

    def advance(self, ticks: int = 1) -> None:
        with self.lock:
            self.ticks += ticks

    def __call__(self) -> float:
        return self.ticks * TICK


class FakeSensor(PowerSource):
    """Each read advances the clock one tick. The power is ``idle_w`` while the meter is
    idle; in the run, ``run_w(k)`` for the k-th tick after the run's first sample. A power
    source reports the mean power of the tick just ended, an energy source a counter that
    charges every elapsed tick (also ticks others advanced) at the current power."""

    def __init__(self, clock: FakeClock, idle_w: float, run_w, kind: str = "power") -> None:
        self.clock, self.idle_w, self.run_w, self.kind = clock, idle_w, run_w, kind
        self.meter: PowerMeter | None = None
        self.run_start: int | None = None
        self.last_tick = 0
        self.energy = 0.0

    def power_of_tick(self, tick: int) -> float:
        if self.meter.phase != "run":
            return self.idle_w
        if self.run_start is None:
            self.run_start = tick
        return self.run_w(max(tick - self.run_start - 1, 0))

    def read(self) -> float:
        self.clock.advance()
        tick = self.clock.ticks
        p = self.power_of_tick(tick)
        self.energy += p * (tick - self.last_tick) * TICK
        self.last_tick = tick
        return p if self.kind == "power" else self.energy


def _meter(sensor: FakeSensor, clock: FakeClock, **kw) -> PowerMeter:
    meter = PowerMeter(sensor, interval_s=0.001, clock=clock, **kw)
    sensor.meter = meter
    return meter


def _wait_samples(meter: PowerMeter, n: int) -> None:
    deadline = time.monotonic() + 10
    while len(meter.samples) < n and time.monotonic() < deadline:
        time.sleep(0.002)


def test_eq4_integral_is_exact_for_piecewise_power_with_baseline():
    clock = FakeClock()
    sensor = FakeSensor(clock, idle_w=3.0, run_w=lambda k: 10.0 if k < 5 else 4.0)
    meter = _meter(sensor, clock, idle_s=0.05)
    with meter:
        _wait_samples(meter, 12)
    r = meter.reading
    duration = r.duration_s
    ticks = round(duration / TICK)
    assert ticks >= 11 and r.samples == len(meter.samples)
    # run power: 10 W for the first 5 ticks of the run, then 4 W; idle baseline 3 W
    exact = 10.0 * 5 * TICK + 4.0 * (ticks - 5) * TICK - 3.0 * ticks * TICK
    assert r.baseline_w == pytest.approx(3.0, abs=1e-12)
    assert r.energy_mj == pytest.approx(exact * 1e3, abs=1e-9)
    assert r.gross_energy_mj == pytest.approx((exact + 3.0 * duration) * 1e3, abs=1e-9)
    assert r.mean_power_w == pytest.approx((10 * 5 + 4 * (ticks - 5)) / ticks)
    assert r.idle_samples >= 6


def test_constant_power_on_the_real_clock():
    phase_power = {"idle": 2.0, "run": 7.0}
    meter = PowerMeter(lambda: phase_power.get(meter.phase, 0.0), interval_s=0.005, idle_s=0.03)
    with meter:
        time.sleep(0.05)
    r = meter.reading
    assert r.baseline_w == 2.0 and r.mean_power_w == pytest.approx(7.0)
    assert r.energy_mj == pytest.approx(5.0 * r.duration_s * 1e3, rel=1e-9)
    assert r.duration_s >= 0.05 and r.samples >= 3
    assert r.to_dict()["net_mean_power_w"] == pytest.approx(5.0)


def test_energy_counter_source_and_per_run_energy():
    clock = FakeClock()
    sensor = FakeSensor(clock, idle_w=1.0, run_w=lambda k: 6.0, kind="energy")
    meter = _meter(sensor, clock, idle_s=0.03)
    reading = meter.measure(lambda: clock.advance(10), runs=4, warmup=0)
    assert reading.runs == 4 and reading.baseline_w == pytest.approx(1.0)
    assert reading.duration_s >= 4 * 10 * TICK
    assert reading.gross_energy_mj == pytest.approx(6.0 * reading.duration_s * 1e3)
    assert reading.energy_mj == pytest.approx(5.0 * reading.duration_s * 1e3)
    assert reading.per_run_mj == pytest.approx(reading.energy_mj / 4)


def test_integrate_helper():
    samples = [(0.0, 5.0), (0.5, 2.0), (1.5, 4.0)]
    assert integrate(samples, "power") == (2.0 * 0.5 + 4.0 * 1.0, 1.5)
    assert integrate([(0.0, 10.0), (2.0, 13.0)], "energy") == (3.0, 2.0)
    assert integrate([(0.0, 1.0)], "power") == (0.0, 0.0)


def test_meter_argument_errors(tmp_path):
    with pytest.raises(ArgumentError, match="interval_s"):
        PowerMeter(lambda: 1.0, interval_s=0)
    with pytest.raises(ArgumentError, match="idle_s"):
        PowerMeter(lambda: 1.0, idle_s=-1)
    with pytest.raises(ArgumentError, match="baseline_w"):
        PowerMeter(lambda: 1.0, baseline_w=float("nan"))
    with pytest.raises(UnknownNameError, match="power source"):
        PowerMeter("ina219")
    with pytest.raises(ArgumentError, match="named source"):
        open_source("auto", tmp_path, rails=["VDD_IN"])
    meter = PowerMeter(lambda: 1.0, interval_s=0.01, idle_s=0)
    with pytest.raises(ArgumentError, match="runs"):
        meter.measure(lambda: None, runs=0)
    with meter, pytest.raises(ArgumentError, match="already running"):
        meter.__enter__()


def test_sensor_failure_in_the_sampler_surfaces():
    calls = {"n": 0}

    def flaky() -> float:
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError("sensor unplugged")
        return 1.0

    meter = PowerMeter(flaky, interval_s=0.001, idle_s=0)
    with pytest.raises(OSError, match="unplugged"), meter:
        time.sleep(0.05)
    assert meter.phase == "stopped"


def test_fixed_baseline_skips_idle_sampling():
    meter = PowerMeter(lambda: 4.0, interval_s=0.005, idle_s=5.0, baseline_w=1.5)
    with meter:
        time.sleep(0.02)
    assert meter.reading.idle_samples == 0
    assert meter.reading.energy_mj == pytest.approx(2.5 * meter.reading.duration_s * 1e3)


# -- Jetson INA3221 -----------------------------------------------------------------------
def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)      # atomic: the sampler thread never sees a half-written file


def _nano_tree(root: Path, with_power: bool = True) -> Path:
    """L4T 32 (JetPack 4) on a Jetson Nano: ina3221x IIO driver at 6-0040."""
    dev = root / "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    for i, (name, mw, mv, ma) in enumerate([("POM_5V_IN", 3512, 5040, 697),
                                            ("POM_5V_GPU", 412, 5016, 82),
                                            ("POM_5V_CPU", 1230, 5008, 245)]):
        _write(dev / f"rail_name_{i}", name)
        if with_power:
            _write(dev / f"in_power{i}_input", str(mw))
        _write(dev / f"in_voltage{i}_input", str(mv))
        _write(dev / f"in_current{i}_input", str(ma))
    return dev


def _xavier_nx_jp5_tree(root: Path) -> Path:
    """L4T 35 (JetPack 5) on a Xavier NX: mainline ina3221 hwmon driver at 7-0040."""
    dev = root / "sys/bus/i2c/drivers/ina3221/7-0040/hwmon/hwmon6"
    for i, (label, mv, ma) in enumerate([("VDD_IN", 5080, 1240), ("VDD_CPU_GPU_CV", 5072, 310),
                                         ("VDD_SOC", 5064, 402)], start=1):
        _write(dev / f"in{i}_label", label)
        _write(dev / f"in{i}_input", str(mv))
        _write(dev / f"curr{i}_input", str(ma))
    _write(dev / "in7_label", "sum of shunt voltages")   # no curr7_input: not a rail
    _write(dev / "in7_input", "3000")
    _write(dev / "update_interval", "140")
    return dev


def test_jetson_nano_iio_layout(tmp_path):
    _nano_tree(tmp_path)
    board = JetsonSource(tmp_path)
    assert board.name == "jetson:POM_5V_IN" and board.read() == pytest.approx(3.512)
    parts = JetsonSource(tmp_path, rails=["POM_5V_GPU", "POM_5V_CPU"])
    assert parts.read() == pytest.approx(0.412 + 1.230)
    with pytest.raises(ArgumentError, match="available: \\['POM_5V_IN'"):
        JetsonSource(tmp_path, rails=["VDD_GPU"])


def test_jetson_iio_without_power_files_uses_voltage_times_current(tmp_path):
    _nano_tree(tmp_path, with_power=False)
    assert JetsonSource(tmp_path).read() == pytest.approx(5.040 * 0.697)


def test_jetson_hwmon_layout_and_meter(tmp_path):
    dev = _xavier_nx_jp5_tree(tmp_path)
    source = JetsonSource(tmp_path)
    assert source.name == "jetson:VDD_IN" and source.read() == pytest.approx(5.080 * 1.240)
    everything = JetsonSource(tmp_path, rails=["VDD_CPU_GPU_CV", "VDD_SOC"])
    assert everything.read() == pytest.approx(5.072 * 0.310 + 5.064 * 0.402)
    _write(dev / "in2_label", "NC")                     # an unconnected channel is skipped
    assert [r.label for r in JetsonSource(tmp_path, rails=["VDD_SOC"]).rails] == ["VDD_SOC"]
    meter = PowerMeter("jetson", interval_s=0.005, idle_s=0, root=tmp_path)
    with meter:
        time.sleep(0.03)
    assert meter.reading.source == "jetson:VDD_IN"
    assert meter.reading.energy_mj == pytest.approx(6.2992 * meter.reading.duration_s * 1e3)


# -- RAPL ---------------------------------------------------------------------------------
def _rapl_tree(root: Path, package0: int, span: int = 262143328850) -> Path:
    base = root / "sys/class/powercap"
    for zone, name, value in [("intel-rapl:0", "package-0", package0),
                              ("intel-rapl:0:0", "core", 5_000_000),
                              ("intel-rapl:0:1", "dram", 2_000_000),
                              ("intel-rapl:1", "package-1", 7_000_000)]:
        _write(base / zone / "name", name)
        _write(base / zone / "energy_uj", str(value))
        _write(base / zone / "max_energy_range_uj", str(span))
    return base


def test_rapl_sums_packages_and_unwraps(tmp_path):
    span = 262143328850
    base = _rapl_tree(tmp_path, package0=span - 1_000)
    rapl = RaplSource(tmp_path)
    assert rapl.name == "rapl:intel-rapl:0(package-0)+intel-rapl:1(package-1)"
    assert rapl.read() == 0.0
    _write(base / "intel-rapl:0/energy_uj", "500")           # wrapped: +1000 + 500 µJ
    _write(base / "intel-rapl:1/energy_uj", "7002000")       # +2000 µJ
    assert rapl.read() == pytest.approx(3500e-6)
    with_dram = RaplSource(tmp_path, domains=("package", "dram"))
    _write(base / "intel-rapl:0:1/energy_uj", "2000100")
    assert with_dram.read() == pytest.approx(100e-6)
    with pytest.raises(SensorNotFoundError, match="psys"):
        RaplSource(tmp_path, domains=("psys",))


def test_power_meter_on_rapl_with_wraparound(tmp_path):
    span = 1_000_000
    base = _rapl_tree(tmp_path, package0=span - 1_000, span=span)
    meter = PowerMeter("rapl", interval_s=0.002, idle_s=0.01, root=tmp_path)
    with meter:
        time.sleep(0.01)
        _write(base / "intel-rapl:0/energy_uj", "500")       # package-0 wraps: 1500 µJ
        time.sleep(0.01)
    assert meter.reading.baseline_w == 0.0                   # counters idle before the run
    assert meter.reading.energy_mj == pytest.approx(1.5)


# -- NVML ---------------------------------------------------------------------------------
def _fake_pynvml(monkeypatch, count: int = 2, fail: bool = False) -> types.ModuleType:
    nvml = types.ModuleType("pynvml")
    nvml.calls = []

    class NVMLError(Exception):
        pass

    def init():
        if fail:
            raise NVMLError("Driver Not Loaded")
        nvml.calls.append("init")

    nvml.NVMLError = NVMLError
    nvml.nvmlInit = init
    nvml.nvmlShutdown = lambda: nvml.calls.append("shutdown")
    nvml.nvmlDeviceGetCount = lambda: count
    nvml.nvmlDeviceGetHandleByIndex = lambda i: f"gpu{i}"
    nvml.nvmlDeviceGetPowerUsage = lambda h: {"gpu0": 45_000, "gpu1": 30_500}[h]    # mW
    nvml.nvmlDeviceGetTotalEnergyConsumption = lambda h: {"gpu0": 9_000, "gpu1": 1_000}[h]
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    return nvml


def test_nvml_power_and_energy_counters(monkeypatch):
    nvml = _fake_pynvml(monkeypatch)
    both = NvmlSource(devices=(0, 1))
    assert both.kind == "power" and both.read() == pytest.approx(75.5)
    counter = NvmlSource(devices=(0,), counter="energy")
    assert counter.kind == "energy" and counter.read() == pytest.approx(9.0)
    both.close()
    assert nvml.calls.count("shutdown") == 1
    with pytest.raises(SensorNotFoundError, match="2 GPU"):
        NvmlSource(devices=(3,))
    meter = PowerMeter("auto", interval_s=0.005, idle_s=0)
    assert meter.source.name == "nvml:0"
    with meter:
        time.sleep(0.02)
    assert meter.reading.mean_power_w == pytest.approx(45.0)


def test_no_sensor_lists_what_was_tried(monkeypatch, tmp_path):
    _fake_pynvml(monkeypatch, fail=True)
    with pytest.raises(SensorNotFoundError) as info:
        PowerMeter("auto", root=tmp_path)
    message = str(info.value)
    assert "nvml: initialisation failed (Driver Not Loaded)" in message
    assert "jetson: no INA3221 rails" in message and "rapl: no readable zone" in message
    with pytest.raises(SensorNotFoundError, match="rapl"):
        PowerMeter("rapl", root=tmp_path)
