"""Training and evaluation: trainer, FER metrics, protocols, checkpoints, logging, DDP.

>>> from snnfer.train import preset_config, run_training
>>> cfg = preset_config("small", "cs3d").updated({"train": {"epochs": 5}})
>>> result = run_training(cfg, "runs/cs3d")                  # doctest: +SKIP
>>> result.summary["test"]["uar"]                             # doctest: +SKIP

Lower level: :class:`Trainer` (any ``nn.Module`` + :class:`~snnfer.data.FERDataset`),
:func:`compute_metrics` (WAR/UAR/UF1, hsta Eq. 17), :func:`make_folds` (holdout, held-out
subjects, k-fold, LOSO, Spiking-FER ``folds.csv``), :func:`evaluate_checkpoint`,
:class:`Predictor`, :func:`run_demo`.
"""

from snnfer.train.checkpoint import load_checkpoint, save_checkpoint
from snnfer.train.config import RunConfig, load_config, preset_config
from snnfer.train.data import FERSubset, build_dataset, list_datasets, register_dataset
from snnfer.train.demo import DemoSettings, run_demo
from snnfer.train.evaluate import evaluate_checkpoint
from snnfer.train.metrics import FERMetrics, compute_metrics, confusion_matrix
from snnfer.train.predict import Predictor
from snnfer.train.protocols import Fold, make_folds
from snnfer.train.run import RunResult, run_training
from snnfer.train.trainer import EvalResult, FitResult, Trainer

__all__ = [
    "DemoSettings",
    "EvalResult",
    "FERMetrics",
    "FERSubset",
    "FitResult",
    "Fold",
    "Predictor",
    "RunConfig",
    "RunResult",
    "Trainer",
    "build_dataset",
    "compute_metrics",
    "confusion_matrix",
    "evaluate_checkpoint",
    "list_datasets",
    "load_checkpoint",
    "load_config",
    "make_folds",
    "preset_config",
    "register_dataset",
    "run_demo",
    "run_training",
    "save_checkpoint",
]
