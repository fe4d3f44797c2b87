"""Dataset protocol shared by every snnfer FER dataset, the trainer and the protocols."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from torch.utils.data import Dataset

__all__ = ["FERDataset", "SampleInfo"]


@dataclass(frozen=True)
class SampleInfo:
    """What is known about one sample without loading it."""

    label: int
    sequence: str
    subject: str | None = None
    condition: str | None = None  # e.g. SEE lighting: normal | overexposure | low | hdr
    path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class FERDataset(Dataset, abc.ABC):
    """Base class: ``__getitem__(i) -> (x, label)``.

    ``x`` is a float tensor ``[T, C, H, W]``, or for multi-modal datasets a dict mapping a
    modality name (``"event"``, ``"rgb"``) to such a tensor. Subclasses fill
    ``self.classes`` (class names, index = label) and ``self.samples`` (one
    :class:`SampleInfo` per item) and implement :meth:`load`.
    """

    classes: list[str]
    samples: list[SampleInfo]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        return self.load(index), self.samples[index].label

    @abc.abstractmethod
    def load(self, index: int):
        """Return the model input of sample ``index``."""

    def metadata(self, index: int) -> dict[str, Any]:
        """Subject, sequence, condition, path and extra fields of sample ``index``."""
        s = self.samples[index]
        return {"label": s.label, "class": self.classes[s.label], "sequence": s.sequence,
                "subject": s.subject, "condition": s.condition, "path": s.path, **s.extra}

    @property
    def labels(self) -> list[int]:
        """Labels of all samples (no loading)."""
        return [s.label for s in self.samples]

    @property
    def subjects(self) -> list[str | None]:
        """Subjects of all samples (for leave-one-subject-out)."""
        return [s.subject for s in self.samples]

    @property
    def conditions(self) -> list[str | None]:
        """Recording conditions of all samples (e.g. SEE lighting)."""
        return [s.condition for s in self.samples]
