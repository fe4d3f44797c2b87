"""FER metrics against hand-computed confusion matrices (hsta.txt Eq. 17)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from snnfer.errors import ArgumentError
from snnfer.train.metrics import compute_metrics, confusion_matrix, metrics_from_confusion

# 3 classes, N = (4, 3, 3)
Y_TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
Y_PRED = [0, 0, 1, 2, 1, 1, 0, 2, 2, 1]


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.tolist() == [[2, 1, 1], [1, 2, 0], [0, 1, 2]]
    assert cm.dtype == np.int64


def test_eq17_by_hand():
    m = compute_metrics(Y_TRUE, Y_PRED, 3, classes=["a", "b", "c"])
    # ACC = sum TP / sum N = 6 / 10
    assert m.accuracy == pytest.approx(0.6)
    assert m.war == m.accuracy
    # UAR = (2/4 + 2/3 + 2/3) / 3
    assert m.uar == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)
    # TP = (2, 2, 2), FP = (1, 2, 1), FN = (2, 1, 1): F1_i = 2TP / (2TP + FP + FN)
    f1 = [4 / 7, 4 / 7, 4 / 6]
    assert m.per_class_f1 == pytest.approx(f1)
    assert m.uf1 == pytest.approx(sum(f1) / 3)
    assert m.per_class_recall == pytest.approx([0.5, 2 / 3, 2 / 3])
    assert m.support == [4, 3, 3]
    assert m.num_samples == 10


def test_uar_differs_from_war_on_imbalanced_data():
    # 9 of class 0 all right, 1 of class 1 wrong: WAR 0.9 but UAR 0.5
    m = compute_metrics([0] * 9 + [1], [0] * 10, 2)
    assert m.accuracy == pytest.approx(0.9)
    assert m.uar == pytest.approx(0.5)
    # F1_0 = 18 / (18 + 1 + 0), F1_1 = 0
    assert m.uf1 == pytest.approx((18 / 19 + 0.0) / 2)


def test_class_absent_from_labels_but_predicted():
    # class 2 never occurs but is predicted once: recall undefined (left out of UAR),
    # F1 = 0 (2TP + FP + FN = 1 > 0) and counted in UF1
    m = compute_metrics([0, 0, 1, 1], [0, 2, 1, 1], 3)
    assert math.isnan(m.per_class_recall[2])
    assert m.uar == pytest.approx((0.5 + 1.0) / 2)
    assert m.per_class_f1 == pytest.approx([2 / 3, 1.0, 0.0])
    assert m.uf1 == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)
    assert m.accuracy == pytest.approx(0.75)


def test_class_absent_and_never_predicted_is_left_out():
    m = compute_metrics([0, 1], [0, 1], 3)
    assert m.uar == 1.0 and m.uf1 == 1.0
    d = m.to_dict()
    assert d["per_class_recall"][2] is None and d["per_class_f1"][2] is None


def test_per_condition_accuracy():
    conds = ["normal"] * 5 + ["low"] * 5
    m = compute_metrics(Y_TRUE, Y_PRED, 3, conditions=conds)
    # normal: true 0 0 0 0 1 / pred 0 0 1 2 1 -> 3/5; low: true 1 1 2 2 2 / pred 1 0 2 2 1 -> 3/5
    assert m.per_condition["normal"]["accuracy"] == pytest.approx(0.6)
    assert m.per_condition["low"]["accuracy"] == pytest.approx(0.6)
    # normal UAR: class 0 2/4, class 1 1/1 -> 0.75; low: class 1 1/2, class 2 2/3
    assert m.per_condition["normal"]["uar"] == pytest.approx(0.75)
    assert m.per_condition["low"]["uar"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert m.per_condition["low"]["num_samples"] == 5
    assert "| low | 5 | 60.00% |" in m.to_markdown()


def test_metrics_from_confusion_matches_compute():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    a, b = metrics_from_confusion(cm), compute_metrics(Y_TRUE, Y_PRED, 3)
    assert (a.accuracy, a.uar, a.uf1) == (b.accuracy, b.uar, b.uf1)


def test_bad_inputs():
    with pytest.raises(ArgumentError, match=r"y_pred\[1\] = 3"):
        confusion_matrix([0, 1], [0, 3], 3)
    with pytest.raises(ArgumentError, match="2 labels but y_pred has 3"):
        confusion_matrix([0, 1], [0, 1, 1], 3)
    with pytest.raises(ArgumentError, match="square"):
        metrics_from_confusion(np.zeros((2, 3)))
    with pytest.raises(ArgumentError, match="2 class names"):
        compute_metrics([0], [0], 3, classes=["a", "b"])
    with pytest.raises(ArgumentError, match="1 conditions given for 2 samples"):
        compute_metrics([0, 1], [0, 1], 2, conditions=["x"])
