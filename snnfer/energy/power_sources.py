"""Power sensors for :class:`snnfer.energy.PowerMeter` (CS3D §IV-B2).

Two kinds of source:

- ``kind="power"``: :meth:`PowerSource.read` returns the instantaneous power (W); the meter
  integrates it (Eq. 4). NVIDIA GPUs through NVML (what ``nvidia-smi`` reads) and the
  INA3221 rails of Jetson boards (Nano, Xavier NX, ...) in sysfs.
- ``kind="energy"``: ``read`` returns a cumulative energy counter (J), already unwrapped;
  the meter takes differences. Linux RAPL (``/sys/class/powercap/intel-rapl:*/energy_uj``,
  wrapping at ``max_energy_range_uj``) and NVML's total-energy counter (Volta and newer).

sysfs sources take a ``root`` directory (default ``/``) so that tests can point them at
a fake tree. Jetson layouts (from the L4T drivers):

- L4T <= 32 (``ina3221x`` IIO driver), e.g. Nano ``6-0040``, Xavier NX ``7-0040``:
  ``/sys/bus/i2c/drivers/ina3221x/<bus-addr>/iio:device<N>/rail_name_<i>`` and
  ``in_power<i>_input`` (mW), ``in_voltage<i>_input`` (mV), ``in_current<i>_input`` (mA);
- L4T >= 34 (mainline ``ina3221`` hwmon driver):
  ``/sys/bus/i2c/drivers/ina3221/<bus-addr>/hwmon/hwmon<N>/in<i>_label``,
  ``in<i>_input`` (mV), ``curr<i>_input`` (mA), channels 1-3 (label ``NC`` = unconnected).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from snnfer.errors import ArgumentError, SensorNotFoundError, UnknownNameError
from snnfer.optional import require

__all__ = [
    "SOURCE_NAMES",
    "CallableSource",
    "JetsonSource",
    "NvmlSource",
    "PowerSource",
    "RaplSource",
    "open_source",
]

SOURCE_NAMES = ("auto", "nvml", "jetson", "rapl")
BOARD_INPUT_RAILS = ("VDD_IN", "POM_5V_IN", "5V_IN")
"""Jetson rails that carry the whole module's input power (used by default when present)."""


class PowerSource(abc.ABC):
    """A power (W) or cumulative energy (J) sensor; see the module docstring."""

    name: str = "source"
    kind: str = "power"

    @abc.abstractmethod
    def read(self) -> float:
        """Current power in W (``kind="power"``) or cumulative energy in J (``"energy"``)."""

    def close(self) -> None:
        """Release the sensor (default: nothing to release)."""
        return None

    def describe(self) -> str:
        return self.name


class CallableSource(PowerSource):
    """Any callable returning watts (or cumulative joules with ``kind="energy"``)."""

    def __init__(self, fn: Callable[[], float], kind: str = "power", name: str = "callable"):
        if kind not in ("power", "energy"):
            raise ArgumentError(f"CallableSource kind must be 'power' or 'energy', got {kind!r}")
        self.fn, self.kind, self.name = fn, kind, name

    def read(self) -> float:
        return float(self.fn())


def _read_number(path: Path) -> float:
    text = path.read_text().strip().split()[0]
    return float(text)


# -- NVML ---------------------------------------------------------------------------------
class NvmlSource(PowerSource):
    """NVIDIA GPU power through NVML (``nvidia-ml-py``; the ``energy`` extra).

    ``counter="power"`` samples ``nvmlDeviceGetPowerUsage`` (mW, what ``nvidia-smi``
    reports, as the CS3D paper did on the Titan X); ``counter="energy"`` reads
    ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since driver load; Volta and newer).
    ``devices``: GPU indices summed.
    """

    def __init__(self, devices: Sequence[int] = (0,), counter: str = "power") -> None:
        if counter not in ("power", "energy"):
            raise ArgumentError(f"NvmlSource counter must be 'power' or 'energy', got {counter!r}")
        nvml = require("pynvml", "energy", "NVML power measurement")
        try:
            nvml.nvmlInit()
        except Exception as exc:  # pynvml raises NVMLError subclasses (no driver, no GPU)
            raise SensorNotFoundError(f"nvml: initialisation failed ({exc})") from exc
        self._nvml = nvml
        try:
            count = nvml.nvmlDeviceGetCount()
            bad = [d for d in devices if not 0 <= int(d) < count]
            if bad or not devices:
                raise SensorNotFoundError(
                    f"nvml: devices {list(devices)} requested but {count} GPU(s) present"
                )
            self._handles = [nvml.nvmlDeviceGetHandleByIndex(int(d)) for d in devices]
        except BaseException:
            nvml.nvmlShutdown()
            raise
        self.kind = counter
        self.name = f"nvml:{','.join(str(d) for d in devices)}"

    def read(self) -> float:
        if self.kind == "power":
            return sum(self._nvml.nvmlDeviceGetPowerUsage(h) for h in self._handles) / 1000.0
        return sum(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h)
                   for h in self._handles) / 1000.0

    def close(self) -> None:
        if self._nvml is not None:
            self._nvml.nvmlShutdown()
            self._nvml = None


# -- Jetson INA3221 -----------------------------------------------------------------------
class _Rail:
    """One INA3221 channel: power file, or voltage and current files."""

    def __init__(self, label: str, power: Path | None, volts: Path | None, amps: Path | None):
        self.label, self.power, self.volts, self.amps = label, power, volts, amps

    def watts(self) -> float:
        if self.power is not None:
            return _read_number(self.power) / 1000.0  # mW
        return _read_number(self.volts) * _read_number(self.amps) / 1e6  # mV * mA


def _jetson_rails(root: Path) -> list[_Rail]:
    rails: list[_Rail] = []
    legacy = root / "sys/bus/i2c/drivers/ina3221x"
    for device in sorted(legacy.glob("*/iio:device*")):
        for name_file in sorted(device.glob("rail_name_*")):
            i = name_file.name.rsplit("_", 1)[1]
            power = device / f"in_power{i}_input"
            volts, amps = device / f"in_voltage{i}_input", device / f"in_current{i}_input"
            if power.exists() or (volts.exists() and amps.exists()):
                rails.append(_Rail(name_file.read_text().strip(),
                                   power if power.exists() else None, volts, amps))
    hwmon = root / "sys/bus/i2c/drivers/ina3221"
    for device in sorted(hwmon.glob("*/hwmon/hwmon*")):
        for label_file in sorted(device.glob("in*_label")):
            match = re.fullmatch(r"in(\d+)_label", label_file.name)
            label = label_file.read_text().strip()
            i = match.group(1) if match else None
            volts, amps = device / f"in{i}_input", device / f"curr{i}_input"
            if i is None or label == "NC" or not (volts.exists() and amps.exists()):
                continue  # unconnected channel or the shunt-voltage sum (no current)
            rails.append(_Rail(label, None, volts, amps))
    return rails


class JetsonSource(PowerSource):
    """Jetson INA3221 power rails in sysfs (both L4T layouts, see the module docstring).

    ``rails``: labels to sum; default the module-input rail (``VDD_IN`` / ``POM_5V_IN`` /
    ``5V_IN``) when present, else every connected rail.
    """

    kind = "power"

    def __init__(self, root: str | Path = "/", rails: Sequence[str] | None = None) -> None:
        found = _jetson_rails(Path(root))
        if not found:
            raise SensorNotFoundError(
                f"jetson: no INA3221 rails under {Path(root) / 'sys/bus/i2c/drivers'}"
                "/ina3221x/*/iio:device*/ or .../ina3221/*/hwmon/hwmon*/"
            )
        labels = [r.label for r in found]
        if rails is None:
            board = [r for r in found if r.label in BOARD_INPUT_RAILS]
            chosen = board[:1] or found
        else:
            unknown = [r for r in rails if r not in labels]
            if unknown:
                raise ArgumentError(f"jetson: unknown rail(s) {unknown}; available: {labels}")
            chosen = [r for r in found if r.label in rails]
        self.rails = chosen
        self.name = "jetson:" + "+".join(r.label for r in chosen)

    def read(self) -> float:
        return sum(r.watts() for r in self.rails)


# -- RAPL ---------------------------------------------------------------------------------
class RaplSource(PowerSource):
    """Linux RAPL energy counters (``/sys/class/powercap/intel-rapl:*``), in joules.

    ``domains``: zone-name prefixes to sum (default the top-level ``package`` zones; add
    ``"dram"`` where the platform exposes it). Each ``energy_uj`` counter wraps at its
    ``max_energy_range_uj``; :meth:`read` unwraps it, so successive reads must be closer
    than one wrap period (minutes at full load).
    """

    kind = "energy"

    def __init__(self, root: str | Path = "/", domains: Sequence[str] = ("package",)) -> None:
        base = Path(root) / "sys/class/powercap"
        zones = []
        for zone in sorted(base.glob("intel-rapl:*")):
            name_file, energy = zone / "name", zone / "energy_uj"
            if not (name_file.exists() and energy.exists()):
                continue
            name = name_file.read_text().strip()
            if any(name.startswith(d) for d in domains):
                zones.append((zone.name, name, energy, zone / "max_energy_range_uj"))
        if not zones:
            raise SensorNotFoundError(
                f"rapl: no readable zone named {list(domains)} under {base}/intel-rapl:*"
            )
        self._zones = []
        for _zone, _name, energy, range_file in zones:
            try:
                raw = int(_read_number(energy))
                span = int(_read_number(range_file)) if range_file.exists() else None
            except PermissionError as exc:
                raise SensorNotFoundError(
                    f"rapl: {energy} is not readable ({exc.strerror}); RAPL counters need root "
                    "on kernels >= 5.10"
                ) from exc
            self._zones.append({"path": energy, "span": span, "last": raw, "total": 0})
        self.name = "rapl:" + "+".join(f"{z}({n})" for z, n, _, _ in zones)

    def read(self) -> float:
        joules = 0.0
        for zone in self._zones:
            raw = int(_read_number(zone["path"]))
            delta = raw - zone["last"]
            if delta < 0 and zone["span"]:
                delta += zone["span"]  # the counter wrapped once
            zone["total"] += delta
            zone["last"] = raw
            joules += zone["total"] / 1e6
        return joules


# -- selection ----------------------------------------------------------------------------
def open_source(spec: str | Callable[[], float] | PowerSource, root: str | Path = "/",
                **options: Any) -> PowerSource:
    """Open a sensor: ``"auto"`` tries NVML, then Jetson, then RAPL; a name opens that one;
    a callable (watts) or :class:`PowerSource` is used as is. No sensor ->
    :class:`~snnfer.errors.SensorNotFoundError` listing every attempt and why it failed."""
    if isinstance(spec, PowerSource):
        return spec
    if callable(spec):
        return CallableSource(spec)
    if spec not in SOURCE_NAMES:
        raise UnknownNameError("power source", str(spec), [*SOURCE_NAMES, "<callable>"])
    if spec == "auto" and options:
        raise ArgumentError(
            f"source options {sorted(options)} need a named source (nvml, jetson or rapl), "
            "not 'auto'"
        )
    openers: dict[str, Callable[[], PowerSource]] = {
        "nvml": lambda: NvmlSource(**options),
        "jetson": lambda: JetsonSource(root, **options),
        "rapl": lambda: RaplSource(root, **options),
    }
    names = list(openers) if spec == "auto" else [spec]
    failures = []
    for name in names:
        try:
            return openers[name]()
        except (SensorNotFoundError, ImportError, OSError) as exc:
            message = str(exc)
            failures.append(message if message.startswith(f"{name}:") else f"{name}: {message}")
    raise SensorNotFoundError("no power sensor found; tried " + "; ".join(failures))
