"""Dataset registry for training, subsets that keep FER metadata, samplers and loaders.

``build_dataset(name, root, options)`` maps the CLI's ``--dataset`` names to the loaders of
``snnfer.data`` (imported lazily) and checks the path, the options and that samples exist
before any training starts. :func:`register_dataset` adds user datasets.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from snnfer.data.base import FERDataset
from snnfer.errors import ConfigError, DatasetError, InputShapeError, UnknownNameError

__all__ = [
    "BalancedSampler",
    "FERSubset",
    "build_dataset",
    "dataset_factory",
    "list_datasets",
    "make_loader",
    "register_dataset",
    "resample_to",
]

# name -> ("module:attribute" of the loader, needs a root folder)
_DATASETS: dict[str, tuple[str | Callable[..., FERDataset], bool]] = {
    "synthetic": ("snnfer.data.synthetic:SyntheticFER", False),
    "synthetic_see": ("snnfer.data.synthetic:SyntheticSEE", False),
    "see": ("snnfer.data.datasets:SEE", True),
    "casme2": ("snnfer.data.datasets:CASME2", True),
    "nefer": ("snnfer.data.datasets:NEFER", True),
    "ferdvs": ("snnfer.data.datasets:FerDVS", True),
    "folder": ("snnfer.data.datasets:EventFolder", True),
    "video_folder": ("snnfer.data.datasets:VideoFolder", True),
    "adfes": ("snnfer.data.datasets:VideoFolder.adfes", True),
    "szu_emodage": ("snnfer.data.datasets:VideoFolder.szu_emodage", True),
}


def register_dataset(name: str, factory: Callable[..., FERDataset],
                     needs_root: bool = True) -> None:
    """Make ``factory(root, **options)`` (or ``factory(**options)``) available by name."""
    _DATASETS[name] = (factory, needs_root)


def list_datasets() -> list[str]:
    """Names accepted by ``--dataset``."""
    return sorted(_DATASETS)


def _resolve(target: str | Callable[..., FERDataset]) -> Callable[..., FERDataset]:
    if callable(target):
        return target
    module, attr = target.split(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def dataset_factory(name: str) -> Callable[..., FERDataset]:
    """The loader class/factory registered as ``name`` (imported on first use)."""
    if name not in _DATASETS:
        raise UnknownNameError("dataset", name, list_datasets())
    return _resolve(_DATASETS[name][0])


def build_dataset(name: str, root: str | None = None, options: dict[str, Any] | None = None
                  ) -> FERDataset:
    """Instantiate dataset ``name`` with ``options``; raise a clear error if it is unusable.

    ``options["transform"]`` may name an event representation of
    :mod:`snnfer.data.transforms` (``"ToThreeChannelFrames"``) or give it with parameters
    (``{"name": "ToCountFrames", "params": {"n_bins": 6}}``), so configs can choose it.

    Errors (all before training): unknown name (:class:`UnknownNameError`), missing root
    folder, options the loader does not accept (:class:`ConfigError`), an empty dataset
    or one with fewer than two classes (:class:`DatasetError`).
    """
    if name not in _DATASETS:
        raise UnknownNameError("dataset", name, list_datasets())
    target, needs_root = _DATASETS[name]
    options = dict(options or {})
    if needs_root:
        if root is None:
            raise DatasetError(f"dataset {name!r} needs a data folder (--data PATH)")
        if not Path(root).exists():
            raise DatasetError(f"data path {str(root)!r} does not exist (dataset {name!r})")
    factory = _resolve(target)
    sig = inspect.signature(factory)
    params = sig.parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            raise ConfigError(f"dataset {name!r} does not accept option(s) {unknown} "
                              f"(data.options); accepted: {sorted(set(params) - {'root'})}")
    spec = options.get("transform")
    if isinstance(spec, (str, dict)):
        from snnfer.train.inputs import build_representation

        options["transform"] = build_representation(
            {"name": spec} if isinstance(spec, str) else spec, where="data.options.transform")
    dataset = factory(root, **options) if needs_root else factory(**options)
    where = f" in {str(root)!r}" if root else ""
    if len(dataset) == 0:
        raise DatasetError(f"dataset {name!r} found no samples{where}; check the folder layout "
                           f"expected by {getattr(factory, '__name__', name)}")
    if len(dataset.classes) < 2:
        raise DatasetError(f"dataset {name!r}{where} has {len(dataset.classes)} class(es) "
                           f"{dataset.classes}; at least two are needed")
    return dataset


def resample_to(x: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Resample a ``[T, C, H, W]`` sample to ``shape`` = (T, C, H, W) (trilinear in T, H, W).

    Channels are never changed: a channel mismatch raises :class:`InputShapeError`.
    """
    t, c, h, w = (int(v) for v in shape)
    if x.dim() != 4:
        raise InputShapeError(f"a sample must be [T, C, H, W], got shape {tuple(x.shape)}")
    if x.shape[1] != c:
        raise InputShapeError(f"sample has {x.shape[1]} channels but the model expects {c} "
                              f"(sample shape {tuple(x.shape)}, model input {tuple(shape)})")
    if tuple(x.shape) == (t, c, h, w):
        return x
    y = F.interpolate(x.permute(1, 0, 2, 3).unsqueeze(0).float(), size=(t, h, w),
                      mode="trilinear", align_corners=False)
    return y[0].permute(1, 0, 2, 3).to(x.dtype).contiguous()


class FERSubset(FERDataset):
    """The samples ``indices`` of ``base``, keeping ``classes`` and per-sample metadata.

    ``input_shape`` (a ``(T, C, H, W)`` tuple, or a dict per modality) resamples every
    item to the model's input size with :func:`resample_to`.
    """

    def __init__(self, base: FERDataset, indices: Sequence[int],
                 input_shape: Sequence[int] | dict[str, Sequence[int]] | None = None) -> None:
        self.base = base
        self.indices = [int(i) for i in indices]
        self.classes = list(base.classes)
        self.samples = [base.samples[i] for i in self.indices]
        self.input_shape = input_shape

    def load(self, index: int):  # pragma: no cover - __getitem__ delegates to base
        return self[index][0]

    def __getitem__(self, index: int):
        x, y = self.base[self.indices[index]]
        if self.input_shape is not None:
            x = fit_input(x, self.input_shape)
        return x, y


def fit_input(x: Any, shape: Sequence[int] | dict[str, Sequence[int]]) -> Any:
    """Resample a sample (tensor or dict of modality tensors) to the model's input shape.

    A dict holding a single modality is taken as that tensor when the model has one input."""
    if isinstance(x, dict) and len(x) == 1 and not isinstance(shape, dict):
        x = next(iter(x.values()))
    if isinstance(x, dict):
        if not isinstance(shape, dict):
            raise InputShapeError(f"sample has modalities {sorted(x)} but the model takes a "
                                  f"single input of shape {tuple(shape)}")
        missing = sorted(set(shape) - set(x))
        if missing:
            raise InputShapeError(f"sample lacks modality(ies) {missing}; it has {sorted(x)}")
        return {k: resample_to(x[k], shape[k]) for k in shape}
    if isinstance(shape, dict):
        raise InputShapeError(f"the model takes modalities {sorted(shape)} but the sample is a "
                              f"single tensor of shape {tuple(x.shape)}")
    return resample_to(x, shape)


class BalancedSampler(Sampler[int]):
    """Class-balanced sampling with replacement: each class is drawn with equal probability.

    ``len(labels)`` draws per epoch, seeded by ``(seed, epoch)`` (call :meth:`set_epoch`);
    with ``num_replicas > 1`` every rank takes an interleaved share of the same draw, as
    :class:`torch.utils.data.DistributedSampler` does.
    """

    def __init__(self, labels: Sequence[int], seed: int = 0, num_replicas: int = 1,
                 rank: int = 0) -> None:
        self.labels = torch.as_tensor(list(labels), dtype=torch.long)
        counts = torch.bincount(self.labels).double()
        self.weights = (1.0 / counts)[self.labels]
        self.seed, self.epoch = seed, 0
        self.num_replicas, self.rank = num_replicas, rank
        self.num_samples = math.ceil(len(self.labels) / num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        total = self.num_samples * self.num_replicas
        draw = torch.multinomial(self.weights, total, replacement=True, generator=g)
        return iter(draw[self.rank::self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples


def collate(batch: list[tuple[Any, int]]) -> tuple[Any, torch.Tensor]:
    """Stack samples (tensors or dicts of tensors) into a batch; labels as a long tensor."""
    xs, ys = zip(*batch)
    if isinstance(xs[0], dict):
        x = {k: torch.stack([s[k] for s in xs]) for k in xs[0]}
    else:
        x = torch.stack(list(xs))
    return x, torch.as_tensor(ys, dtype=torch.long)


def make_loader(dataset: FERDataset, batch_size: int, *, train: bool, seed: int = 0,
                balanced: bool = False, num_workers: int = 0, num_replicas: int = 1,
                rank: int = 0) -> DataLoader:
    """A loader whose order depends only on ``(seed, epoch)`` (call ``sampler.set_epoch``).

    Training uses a :class:`DistributedSampler` (shuffled, padded to equal shares; also with
    one process) or a :class:`BalancedSampler`; evaluation reads the samples in order, rank
    ``r`` of ``n`` taking samples ``r, r + n, ...`` without padding so that no sample is
    counted twice.
    """
    sampler: Sampler[int]
    if train:
        if balanced:
            sampler = BalancedSampler(dataset.labels, seed, num_replicas, rank)
        else:
            sampler = DistributedSampler(dataset, num_replicas=num_replicas, rank=rank,
                                         shuffle=True, seed=seed)
    else:
        sampler = _ShardSampler(len(dataset), num_replicas, rank)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      collate_fn=collate, drop_last=False,
                      persistent_workers=False, pin_memory=torch.cuda.is_available())


class _ShardSampler(Sampler[int]):
    def __init__(self, n: int, num_replicas: int, rank: int) -> None:
        self.indices = list(range(rank, n, num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
