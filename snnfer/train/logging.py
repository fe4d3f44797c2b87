"""Run logging: tqdm progress, ``metrics.csv`` per epoch, TensorBoard events, ``train.log``.

Only the main process logs (``enabled=False`` on the other ranks turns every call into a
no-op). ``metrics.csv`` is rewritten atomically from the full history every epoch, so after
a resume it holds exactly one row per completed epoch; TensorBoard is opened with
``purge_step`` at the resumed epoch, which discards events of epochs that are re-run.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from snnfer.atomic import atomic_write_text

__all__ = ["RunLogger", "write_csv"]

T = TypeVar("T")


def write_csv(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write dict rows (union of keys, in first-seen order) atomically."""
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(v) for k, v in row.items()})
    atomic_write_text(path, buf.getvalue())


def _fmt(v: Any) -> Any:
    return f"{v:.6g}" if isinstance(v, float) else v


class RunLogger:
    """Console/file/CSV/TensorBoard logging of one training run (one fold)."""

    def __init__(self, run_dir: str | Path | None, *, enabled: bool = True, progress: bool = True,
                 tensorboard: bool = True, start_epoch: int = 0) -> None:
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.enabled = enabled
        self.progress = progress and enabled
        self._tb = None
        if enabled and tensorboard and self.run_dir is not None:
            from snnfer.optional import require

            require("tensorboard", "train", "TensorBoard logging")
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"),
                                     purge_step=start_epoch)

    def info(self, message: str) -> None:
        """A line on stderr (above any progress bar) and in ``train.log``."""
        if not self.enabled:
            return
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            with (self.run_dir / "train.log").open("a", encoding="utf-8") as fh:
                fh.write(f"{stamp} {message}\n")

    def bar(self, iterable: Iterable[T], *, total: int | None = None, desc: str = "",
            leave: bool = False) -> Iterator[T]:
        """A tqdm bar over ``iterable`` (or the iterable itself when progress is off)."""
        if not self.progress:
            return iter(iterable)
        from tqdm import tqdm

        return iter(tqdm(iterable, total=total, desc=desc, leave=leave, dynamic_ncols=True,
                         file=sys.stderr))

    def log_epoch(self, history: list[dict[str, Any]]) -> None:
        """Record the last entry of ``history``: CSV (whole history), TensorBoard, log line."""
        if not self.enabled or not history:
            return
        row = history[-1]
        if self.run_dir is not None:
            write_csv(self.run_dir / "metrics.csv", history)
        if self._tb is not None:
            step = int(row["epoch"])
            for key, value in row.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self._tb.add_scalar(key.replace("_", "/", 1), value, step)
            self._tb.flush()
        parts = [f"{k}={_fmt(v)}" for k, v in row.items() if k != "epoch"]
        self.info(f"epoch {row['epoch']}: " + " ".join(parts))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
