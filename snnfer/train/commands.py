"""The logic behind ``snnfer train / evaluate / predict / demo`` (the CLI only parses options).

Configs are layered preset -> ``--config`` YAML -> options; with ``--resume`` the run
directory's ``config.yaml`` is the base and only options given explicitly override it.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from snnfer.errors import ArgumentError, CheckpointError, ConfigError
from snnfer.train.config import RunConfig, load_config

__all__ = ["cli_overrides", "import_plugins", "parse_set", "train_config"]


def import_plugins(modules: list[str] | None) -> None:
    """Import user modules that register models (``register_model``) or datasets
    (``snnfer.train.register_dataset``) before names are resolved (``--import``)."""
    for name in modules or []:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ArgumentError(f"--import {name!r}: cannot import it ({exc})") from exc


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``["optim.lr=1e-3", "data.options={a: 1}"]`` -> nested dict (values parsed as YAML)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE (e.g. optim.lr=1e-3), got {item!r}")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({exc})") from exc
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r} conflicts with another --set for {part!r}")
        node[parts[-1]] = value
    return out


def cli_overrides(*, model: str | None = None, data: str | None = None,
                  dataset: str | None = None, protocol: str | None = None,
                  epochs: int | None = None, batch_size: int | None = None,
                  lr: float | None = None, seed: int | None = None, fold: int | None = None,
                  folds: int | None = None, device: str | None = None,
                  workers: int | None = None, balanced: bool | None = None,
                  progress: bool | None = None, sets: list[str] | None = None) -> dict[str, Any]:
    """Nested overrides for the options that were given (``None`` = not given)."""
    o: dict[str, Any] = {"model": {}, "data": {}, "optim": {}, "train": {}}
    if model is not None:
        o["model"]["name"] = model
    if data is not None:
        if data == "synthetic":
            o["data"].update(dataset=dataset or "synthetic", root=None)
        else:
            o["data"].update(dataset=dataset or "folder", root=str(data))
    elif dataset is not None:
        o["data"]["dataset"] = dataset
    for section, key, value in (("data", "protocol", protocol), ("train", "epochs", epochs),
                                ("data", "batch_size", batch_size), ("optim", "lr", lr),
                                ("train", "seed", seed), ("data", "fold", fold),
                                ("data", "folds", folds), ("train", "device", device),
                                ("data", "num_workers", workers),
                                ("data", "balanced_sampler", balanced),
                                ("train", "progress", progress)):
        if value is not None:
            o[section][key] = value
    o = {k: v for k, v in o.items() if v}
    for section, values in parse_set(sets).items():
        if isinstance(values, dict) and isinstance(o.get(section), dict):
            o[section].update(values)
        else:
            o[section] = values
    return o


def train_config(*, out: Path | None, resume: bool, config: Path | None, preset: str | None,
                 overrides: dict[str, Any]) -> RunConfig:
    """The run's config: fresh (preset/YAML/overrides) or, with ``resume``, the stored one."""
    if resume:
        if out is None:
            raise ArgumentError("--resume needs --out RUN_DIR (the run to continue)")
        stored = Path(out) / "config.yaml"
        if not stored.is_file():
            raise CheckpointError(f"nothing to resume in {str(out)!r} (no config.yaml there)")
        if config is not None or preset is not None:
            raise ArgumentError("--resume continues the stored config; drop --config/--preset")
        import yaml

        base = RunConfig.from_dict(yaml.safe_load(stored.read_text(encoding="utf-8")) or {},
                                   where=str(stored))
        return base.updated(overrides).validate() if overrides else base.validate()
    model = (overrides.get("model") or {}).get("name")
    return load_config(config, preset=preset, model=model, overrides=overrides)


def dumps(data: Any) -> str:
    """JSON for ``--json`` outputs."""
    return json.dumps(data, indent=2)
