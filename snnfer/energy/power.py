"""``PowerMeter``: measured energy by sampling a power sensor (CS3D §IV-B2, Eq. 4).

Eq. 4: ``E = sum_{i=1}^{N} P_i * dt`` -- power sampled at a fixed interval ``dt`` while the
model runs. snnfer uses each sample's actual interval ``t_i - t_{i-1}`` (equal to ``dt``
up to scheduling jitter), so the sum is exact for a sensor reporting the mean power of
the window that ends at ``t_i``. Counter sources (RAPL, NVML total energy) are read at the
start and end instead. An idle baseline (mean power over ``idle_s`` seconds before the
run) is subtracted, so the reading is the energy the workload added.

>>> meter = PowerMeter(lambda: 12.5, interval_s=0.01, idle_s=0.0)   # a constant 12.5 W
>>> with meter:
...     pass
>>> round(meter.reading.mean_power_w, 6)
12.5
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from snnfer.energy.power_sources import PowerSource, open_source
from snnfer.errors import ArgumentError

__all__ = ["PowerMeter", "PowerReading", "integrate"]

Sample = tuple[float, float]


@dataclass(frozen=True)
class PowerReading:
    """One measurement: net energy (idle baseline subtracted), gross energy, baseline power,
    mean power over the run, duration, number of samples, and runs for per-run energy."""

    source: str
    energy_mj: float
    gross_energy_mj: float
    baseline_w: float
    mean_power_w: float
    duration_s: float
    samples: int
    idle_samples: int
    runs: int = 1

    @property
    def per_run_mj(self) -> float:
        """Net energy per run (per inference when each run is one inference)."""
        return self.energy_mj / self.runs

    @property
    def net_mean_power_w(self) -> float:
        return self.mean_power_w - self.baseline_w

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "per_run_mj": self.per_run_mj,
                "net_mean_power_w": self.net_mean_power_w}


def integrate(samples: list[Sample], kind: str) -> tuple[float, float]:
    """``(energy_J, duration_s)`` of ``[(t_i, value_i)]``: Eq. 4 ``sum P_i (t_i - t_{i-1})``
    for power samples, ``C_N - C_0`` for a cumulative energy counter."""
    if len(samples) < 2:
        return 0.0, 0.0
    duration = samples[-1][0] - samples[0][0]
    if kind == "energy":
        return samples[-1][1] - samples[0][1], duration
    energy = sum(p * (t - t_prev) for (t_prev, _), (t, p) in zip(samples, samples[1:]))
    return energy, duration


def _check_seconds(name: str, value: float, allow_zero: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ArgumentError(f"PowerMeter: {name} must be a finite number {bound} s, got {value!r}")
    return float(value)


class PowerMeter:
    """Background power sampler (context manager) implementing Eq. 4.

    ``source``: ``"auto"`` (NVML, then Jetson INA3221, then RAPL), ``"nvml"``, ``"jetson"``,
    ``"rapl"``, a callable returning watts, or a :class:`~snnfer.energy.power_sources.
    PowerSource`. ``interval_s``: sampling period. ``idle_s``: seconds of idle sampling
    before each run for the baseline (0: no baseline); ``baseline_w`` fixes the baseline
    instead. ``root``: sysfs root for the Jetson/RAPL sources. ``clock``: time source
    (seconds). Extra keyword arguments go to the named source (``rails=``, ``domains=``,
    ``devices=``, ``counter=``). No sensor -> :class:`~snnfer.errors.SensorNotFoundError`.

    >>> meter = PowerMeter("auto")                       # doctest: +SKIP
    >>> reading = meter.measure(lambda: model(x), runs=20)   # doctest: +SKIP
    >>> reading.per_run_mj                               # doctest: +SKIP
    """

    def __init__(
        self,
        source: str | Callable[[], float] | PowerSource = "auto",
        interval_s: float = 0.05,
        idle_s: float = 1.0,
        *,
        baseline_w: float | None = None,
        root: str | Path = "/",
        clock: Callable[[], float] = time.perf_counter,
        **source_options: Any,
    ) -> None:
        self.interval_s = _check_seconds("interval_s", interval_s, allow_zero=False)
        self.idle_s = _check_seconds("idle_s", idle_s, allow_zero=True)
        if baseline_w is not None and (not isinstance(baseline_w, (int, float))
                                       or not math.isfinite(baseline_w) or baseline_w < 0):
            raise ArgumentError(f"PowerMeter: baseline_w must be a finite number >= 0 W, "
                                f"got {baseline_w!r}")
        self.fixed_baseline_w = baseline_w
        self.clock = clock
        self.source = open_source(source, root, **source_options)
        self.phase = "stopped"
        self.samples: list[Sample] = []
        self.idle_samples: list[Sample] = []
        self.reading: PowerReading | None = None
        self._baseline_w = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _sample(self) -> Sample:
        value = self.source.read()
        return self.clock(), value

    def measure_baseline(self) -> float:
        """Sample the idle system for ``idle_s`` seconds; returns the mean power (W)."""
        self.phase = "idle"
        samples = [self._sample()]
        deadline = time.monotonic() + self.idle_s + 1.0  # guards against a clock that stalls
        while samples[-1][0] - samples[0][0] < self.idle_s and time.monotonic() < deadline:
            time.sleep(self.interval_s)
            samples.append(self._sample())
        self.idle_samples = samples
        energy, duration = integrate(samples, self.source.kind)
        return energy / duration if duration > 0 else 0.0

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval_s):
                self.samples.append(self._sample())
        except BaseException as exc:  # surfaced in __exit__
            self._error = exc

    def __enter__(self) -> PowerMeter:
        if self._thread is not None:
            raise ArgumentError("PowerMeter is already running (nested `with` on one meter)")
        if self.fixed_baseline_w is not None:
            self._baseline_w, self.idle_samples = self.fixed_baseline_w, []
        elif self.idle_s > 0:
            self._baseline_w = self.measure_baseline()
        else:
            self._baseline_w, self.idle_samples = 0.0, []
        self.reading, self._error = None, None
        self.phase = "run"
        self.samples = [self._sample()]
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="snnfer-power", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._thread = None
        try:
            if self._error is not None:
                raise self._error
            self.samples.append(self._sample())
        finally:
            self.phase = "stopped"
        self.reading = self._reading(runs=1)

    def _reading(self, runs: int) -> PowerReading:
        gross, duration = integrate(self.samples, self.source.kind)
        mean = gross / duration if duration > 0 else 0.0
        net = gross - self._baseline_w * duration
        return PowerReading(self.source.describe(), net * 1e3, gross * 1e3, self._baseline_w,
                            mean, duration, len(self.samples), len(self.idle_samples), runs)

    def measure(self, fn: Callable[[], Any], runs: int = 1, warmup: int = 1) -> PowerReading:
        """Run ``fn`` ``warmup`` times unmeasured, then ``runs`` times inside the meter;
        the reading's ``per_run_mj`` is the energy per run (CUDA work is synchronised)."""
        for name, value, low in (("runs", runs, 1), ("warmup", warmup, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ArgumentError(f"PowerMeter.measure: {name} must be an int >= {low}, "
                                    f"got {value!r}")
        for _ in range(warmup):
            fn()
        _synchronize()
        with self:
            for _ in range(runs):
                fn()
            _synchronize()
        self.reading = self._reading(runs=runs)
        return self.reading

    def close(self) -> None:
        """Release the sensor."""
        self.source.close()


def _synchronize() -> None:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
