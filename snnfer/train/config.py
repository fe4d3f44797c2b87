"""Typed run configuration: dataclasses, strict YAML loading, the ``paper`` and ``small`` presets.

A run is described by one :class:`RunConfig` with five sections (``model``, ``data``,
``optim``, ``schedule``, ``train``). Configs are built as *preset* -> *YAML file* -> *command
line overrides*; every layer is checked: an unknown key or a value of the wrong type raises
:class:`~snnfer.errors.ConfigError` naming the dotted key and what is accepted.

The ``paper`` preset follows the optimisation each paper reports:

- CS3D and its baselines (cs3d.txt §IV-C): Adam, lr 1e-4, batch 16 ("All algorithms were
  trained using the Adam optimizer with a learning rate of 1e-4 and a batch size of 16").
  The paper gives no epoch count; snnfer uses 100.
- HEC-Net (hec-net.txt §4): AdamW, lr 1e-4, weight decay 1e-4, cosine annealing, 150 epochs,
  batch 16.
- Spiking-FER (Barchid et al. 2023, REFERENCE.md): SGD lr 5e-3, momentum 0.9, wd 5e-4,
  cosine over 500 epochs, batch 32.
- SEEN (REFERENCE.md): SGD lr 0.015, momentum 0.9, wd 1e-3, lr x 0.94 every epoch, 180
  epochs, batch 32.

The ``small`` preset uses the models' ``small`` size preset and CPU-friendly optimisation
(the same optimiser family with a larger learning rate, a short warm-up and few epochs).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snnfer.errors import ConfigError, UnknownNameError

__all__ = [
    "PRESETS",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "ScheduleConfig",
    "TrainConfig",
    "load_config",
    "preset_config",
]

PRESETS = ("paper", "small")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "step", "exponential")
PROTOCOLS = ("holdout", "subject_holdout", "kfold", "loso", "folds_csv")
AMP_MODES = ("auto", "off", "fp16", "bf16")
SELECT_METRICS = ("uar", "accuracy", "uf1", "loss")


@dataclass
class ModelConfig:
    """The network: ``create_model(name, num_classes, in_channels, preset=preset, **kwargs)``."""

    name: str = "cs3d"
    preset: str = "paper"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Dataset, evaluation protocol and loading.

    ``protocol``: ``holdout`` (the dataset's fixed split when its samples carry
    ``extra["subset"]``, e.g. SEE; otherwise a stratified ``test_fraction`` split),
    ``subject_holdout`` (``test_fraction`` of the subjects for testing, ``val_fraction`` of
    the rest for validation: no subject in two parts),
    ``kfold`` (stratified, ``folds`` folds), ``loso`` (leave one subject out) or
    ``folds_csv`` (Spiking-FER's ``folds.csv``, default ``<root>/folds.csv``). ``fold``
    restricts a multi-fold protocol to one fold. ``val_fraction`` of the training part
    (stratified) selects the best epoch; 0 selects on the training metrics.
    """

    dataset: str = "synthetic"
    root: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    protocol: str = "holdout"
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    folds: int = 5
    fold: int | None = None
    folds_csv: str | None = None
    batch_size: int = 16
    eval_batch_size: int | None = None
    num_workers: int = 0
    balanced_sampler: bool = False
    resize: bool = True


@dataclass
class OptimConfig:
    """Optimiser: ``adam`` | ``adamw`` | ``sgd`` (momentum/nesterov apply to SGD only)."""

    name: str = "adam"
    lr: float = 1e-4
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])


@dataclass
class ScheduleConfig:
    """Learning-rate schedule, evaluated per optimisation step on the fractional epoch.

    ``constant``; ``cosine`` (annealing from lr to ``min_lr`` over the epochs after
    warm-up); ``step`` (x ``gamma`` every ``step_size`` epochs); ``exponential`` (x ``gamma``
    per epoch, SEEN's 0.94). A linear warm-up from ``warmup_start_factor`` x lr to lr over
    ``warmup_epochs`` comes first (hsta.txt: 5 warm-up epochs).
    """

    name: str = "constant"
    warmup_epochs: float = 0.0
    warmup_start_factor: float = 0.01
    min_lr: float = 0.0
    step_size: int = 30
    gamma: float = 0.1


@dataclass
class TrainConfig:
    """Loop settings. ``select_metric`` chooses the best checkpoint (on validation data)."""

    epochs: int = 100
    seed: int = 0
    deterministic: bool = True
    device: str = "auto"
    amp: str = "auto"
    grad_clip: float | None = None
    label_smoothing: float = 0.0
    select_metric: str = "uar"
    progress: bool = True
    tensorboard: bool = True
    dist_timeout_s: float = 300.0


@dataclass
class RunConfig:
    """A whole training run (what ``config.yaml`` in a run directory holds)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON/checkpoint safe)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> RunConfig:
        """Build from a nested dict, rejecting unknown keys and ill-typed values."""
        return _build(cls, data, where)

    def updated(self, overrides: dict[str, Any], where: str = "overrides") -> RunConfig:
        """A copy with a nested dict of overrides applied (same checks as loading)."""
        return RunConfig.from_dict(_deep_merge(self.to_dict(), overrides, where), where)

    def to_yaml(self) -> str:
        """YAML text of the config."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def validate(self) -> RunConfig:
        """Check the enumerated and ranged values; returns ``self``."""
        _choice("optim.name", self.optim.name, OPTIMIZERS)
        _choice("schedule.name", self.schedule.name, SCHEDULES)
        _choice("data.protocol", self.data.protocol, PROTOCOLS)
        _choice("train.amp", self.train.amp, AMP_MODES)
        _choice("train.select_metric", self.train.select_metric, SELECT_METRICS)
        _choice("model.preset", self.model.preset, PRESETS)
        checks = [
            ("train.epochs", self.train.epochs >= 1, ">= 1"),
            ("data.batch_size", self.data.batch_size >= 1, ">= 1"),
            ("data.num_workers", self.data.num_workers >= 0, ">= 0"),
            ("data.folds", self.data.folds >= 2, ">= 2"),
            ("data.test_fraction", 0.0 < self.data.test_fraction < 1.0, "in (0, 1)"),
            ("data.val_fraction", 0.0 <= self.data.val_fraction < 1.0, "in [0, 1)"),
            ("optim.lr", self.optim.lr > 0, "> 0"),
            ("optim.weight_decay", self.optim.weight_decay >= 0, ">= 0"),
            ("schedule.warmup_epochs", self.schedule.warmup_epochs >= 0, ">= 0"),
            ("schedule.warmup_start_factor", 0 < self.schedule.warmup_start_factor <= 1,
             "in (0, 1]"),
            ("schedule.step_size", self.schedule.step_size >= 1, ">= 1"),
            ("schedule.gamma", self.schedule.gamma > 0, "> 0"),
            ("train.label_smoothing", 0.0 <= self.train.label_smoothing < 1.0, "in [0, 1)"),
            ("train.dist_timeout_s", self.train.dist_timeout_s > 0, "> 0"),
        ]
        if self.data.eval_batch_size is not None:
            checks.append(("data.eval_batch_size", self.data.eval_batch_size >= 1, ">= 1"))
        if self.data.fold is not None:
            checks.append(("data.fold", self.data.fold >= 0, ">= 0"))
        if self.train.grad_clip is not None:
            checks.append(("train.grad_clip", self.train.grad_clip > 0, "> 0 (or null)"))
        if len(self.optim.betas) != 2 or not all(0 <= b < 1 for b in self.optim.betas):
            checks.append(("optim.betas", False, "two values in [0, 1)"))
        for key, ok, expected in checks:
            if not ok:
                value = _get_dotted(self, key)
                raise ConfigError(f"config key {key!r} must be {expected}, got {value!r}")
        return self


# -- presets ------------------------------------------------------------------------------
# Paper recipes per model family (sources in the module docstring)
_PAPER_RECIPES: dict[str, dict[str, Any]] = {
    "cs3d": {"optim": {"name": "adam", "lr": 1e-4}, "schedule": {"name": "constant"},
             "epochs": 100, "batch_size": 16},
    "hecnet": {"optim": {"name": "adamw", "lr": 1e-4, "weight_decay": 1e-4},
               "schedule": {"name": "cosine"}, "epochs": 150, "batch_size": 16},
    "spiking_fer": {"optim": {"name": "sgd", "lr": 5e-3, "momentum": 0.9, "weight_decay": 5e-4},
                    "schedule": {"name": "cosine"}, "epochs": 500, "batch_size": 32},
    "seen": {"optim": {"name": "sgd", "lr": 0.015, "momentum": 0.9, "weight_decay": 1e-3},
             "schedule": {"name": "exponential", "gamma": 0.94}, "epochs": 180, "batch_size": 32},
}


def _family(model: str) -> str:
    if model.startswith("hecnet"):
        return "hecnet"
    if model in ("spiking_fer", "seen"):
        return model
    return "cs3d"  # cs3d, c3d, the Table IV ablations and the Table II baselines


def preset_config(preset: str = "paper", model: str = "cs3d") -> RunConfig:
    """The ``paper`` or ``small`` preset for ``model`` (see the module docstring)."""
    if preset not in PRESETS:
        raise UnknownNameError("preset", preset, PRESETS)
    recipe = _PAPER_RECIPES[_family(model)]
    cfg = RunConfig()
    cfg.model = ModelConfig(name=model, preset=preset)
    cfg.optim = OptimConfig(**recipe["optim"])
    cfg.schedule = ScheduleConfig(**recipe["schedule"])
    cfg.train.epochs = recipe["epochs"]
    cfg.data.batch_size = recipe["batch_size"]
    if preset == "small":
        # CPU-friendly: same optimiser family, 10x the paper's lr with one warm-up epoch and
        # cosine decay so that a few epochs on a few hundred clips converge.
        cfg.optim.lr = min(recipe["optim"]["lr"] * 10, 1e-2)
        cfg.schedule = ScheduleConfig(name="cosine", warmup_epochs=1.0, warmup_start_factor=0.1)
        cfg.train.epochs = 8
        cfg.data.batch_size = 16
    return cfg.validate()


def load_config(
    path: str | Path | None = None,
    *,
    preset: str | None = None,
    model: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Preset (``preset``/``model``, or the YAML's top-level ``preset``) + YAML + overrides.

    The YAML file has the sections of :class:`RunConfig` and optionally ``preset: paper``;
    it is read with ``yaml.safe_load``. Unknown keys raise :class:`ConfigError`.
    """
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_yaml(Path(path))
    file_preset = data.pop("preset", None)
    if file_preset is not None and not isinstance(file_preset, str):
        raise ConfigError(f"{path}: 'preset' must be one of {list(PRESETS)}, got {file_preset!r}")
    model_name = model or (data.get("model") or {}).get("name") or "cs3d"
    if not isinstance(model_name, str):
        raise ConfigError(f"{path}: 'model.name' must be a string, got {model_name!r}")
    cfg = preset_config(preset or file_preset or "paper", model_name)
    if data:
        cfg = cfg.updated(data, where=str(path))
    if model:
        cfg = cfg.updated({"model": {"name": model}})
    if overrides:
        cfg = cfg.updated(overrides)
    return cfg.validate()


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping of sections "
            f"{[f.name for f in dataclasses.fields(RunConfig)]}, got {type(data).__name__}"
        )
    return data


# -- strict building ----------------------------------------------------------------------
def _build(cls: type, data: Any, where: str, prefix: str = "") -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: section {prefix.rstrip('.') or '<root>'!r} must be a "
                          f"mapping, got {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise ConfigError(
            f"{where}: unknown config key(s) {[prefix + str(k) for k in unknown]}; "
            f"accepted in {prefix.rstrip('.') or 'the top level'!r}: {names}"
        )
    kwargs = {}
    for name in names:
        if name not in data:
            continue
        hint, value, key = hints[name], data[name], prefix + name
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, where, key + ".")
        else:
            kwargs[name] = _coerce(hint, value, where, key)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where, key)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {key!r} must be a mapping, got {value!r}")
        return dict(value)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: {key!r} must be a list, got {value!r}")
        (item,) = typing.get_args(hint)
        return [_coerce(item, v, where, f"{key}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: {key!r} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: {key!r} must be an integer, got {value!r}")
    if hint is float:
        # YAML 1.1 reads "1e-4" (no dot) as a string: accept numeric strings.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: {key!r} must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: {key!r} must be a string, got {value!r}")
    return value


def _deep_merge(base: dict[str, Any], over: dict[str, Any], where: str) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k not in ("options", "kwargs"):
            out[k] = _deep_merge(out[k], v, where)
        else:
            out[k] = v
    return out


def _choice(key: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"config key {key!r} must be one of {list(options)}, got {value!r}")


def _get_dotted(cfg: RunConfig, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)
