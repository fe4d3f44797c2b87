"""Results in the layout of HEC-Net's Table 1 (hec-net.txt §4.2): WAR, UAR, accuracy per
lighting condition and accuracy per emotion, one row per model.

"Accuracy under lighting conditions" is the accuracy (WAR) of the test samples recorded
under each condition; "accuracy of emotion classification" is each emotion's recall
(the share of its samples classified correctly). Conditions are listed in SEE's order
(normal, overexposure, low light, HDR), then any other condition the data has.

>>> from snnfer.train.metrics import compute_metrics
>>> m = compute_metrics([0, 0, 1, 1], [0, 1, 1, 1], 2, ["happy", "sad"],
...                     conditions=["normal", "low", "normal", "low"])
>>> print(table1_markdown({"model": m}))
| model | WAR | UAR | Normal | Low-light | happy | sad |
|---|---:|---:|---:|---:|---:|---:|
| model | 75.0 | 75.0 | 100.0 | 50.0 | 50.0 | 100.0 |
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from snnfer.train.metrics import FERMetrics

__all__ = ["CONDITION_ORDER", "condition_label", "table1_columns", "table1_markdown",
           "table1_values"]

CONDITION_ORDER = ("normal", "overexposure", "low", "hdr")
"""SEE's lighting conditions in the order of HEC-Net's Table 1."""
_LABELS = {"normal": "Normal", "overexposure": "Overexposure", "low": "Low-light", "hdr": "HDR"}

Metrics = FERMetrics | Mapping[str, Any]


def condition_label(name: str) -> str:
    """Column title of a condition (``"low"`` -> ``"Low-light"``)."""
    return _LABELS.get(name, name)


def _as_dict(m: Metrics) -> Mapping[str, Any]:
    return m.to_dict() if isinstance(m, FERMetrics) else m


def _ordered_conditions(names: set[str]) -> list[str]:
    return [c for c in CONDITION_ORDER if c in names] + sorted(names - set(CONDITION_ORDER))


def table1_values(metrics: Metrics, classes: Sequence[str] | None = None) -> dict[str, float]:
    """Column title -> value (fraction; NaN when undefined) in Table 1 order: ``WAR``,
    ``UAR``, one column per condition, one per emotion (``classes``, default the
    metrics' own class names)."""
    d = _as_dict(metrics)
    names = list(classes or d.get("classes") or
                 [str(i) for i in range(len(d["per_class_recall"]))])
    out = {"WAR": _num(d["accuracy"]), "UAR": _num(d["uar"])}
    per_cond = d.get("per_condition") or {}
    for cond in _ordered_conditions(set(per_cond)):
        out[condition_label(cond)] = _num(per_cond[cond]["accuracy"])
    for name, recall in zip(names, d["per_class_recall"]):
        out[name] = _num(recall)
    return out


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def table1_columns(rows: Mapping[str, Metrics | Sequence[Metrics]]) -> list[str]:
    """Columns of a table over ``rows``: WAR, UAR, every condition any row has (SEE's order
    first), then the emotions in the order they first appear."""
    conditions: set[str] = set()
    emotions: list[str] = []
    for value in rows.values():
        for m in _runs(value):
            d = _as_dict(m)
            conditions |= set(d.get("per_condition") or {})
            names = d.get("classes") or [str(i) for i in range(len(d["per_class_recall"]))]
            emotions += [n for n in names if n not in emotions]
    return ["WAR", "UAR", *(condition_label(c) for c in _ordered_conditions(conditions)),
            *emotions]


def _runs(value: Metrics | Sequence[Metrics]) -> list[Metrics]:
    if isinstance(value, (FERMetrics, Mapping)):
        return [value]
    return list(value)


def _cell(values: list[float], digits: int) -> str:
    vals = [v for v in values if not math.isnan(v)]
    if not vals:
        return "n/a"
    mean = 100 * statistics.fmean(vals)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {100 * statistics.stdev(vals):.{digits}f}" if len(vals) > 1 \
        else f"{mean:.{digits}f}"


def table1_markdown(rows: Mapping[str, Metrics | Sequence[Metrics]], digits: int = 1,
                    first_column: str = "model") -> str:
    """Markdown table in Table 1's layout (percentages), one row per key of ``rows``.

    A row's value is one evaluation (:class:`FERMetrics` or its ``to_dict()``) or a list of
    them (e.g. one per seed), shown as mean ± sample standard deviation.
    """
    cols = table1_columns(rows)
    lines = [f"| {first_column} | " + " | ".join(cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for label, value in rows.items():
        per_run = [table1_values(m) for m in _runs(value)]
        cells = [_cell([r.get(c, math.nan) for r in per_run], digits) for c in cols]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
