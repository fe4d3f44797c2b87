"""BatchNorm folding for inference: ``fuse_for_inference(model)`` (issue 7).

In eval mode a BatchNorm after a convolution is a per-channel affine map, so it can be
folded into the convolution's weight and bias::

    W' = W * gamma / sqrt(var + eps)      (per output channel)
    b' = (b - mean) * gamma / sqrt(var + eps) + beta

:func:`fuse_for_inference` returns an eval-mode copy of a model with every such pair
folded -- the point-wise convolutions of :class:`~snnfer.layers.FactorizedConv3d`
(``pw1``/``bn1``, ``pw2``/``bn2``), C3D's ``Conv3d -> BN`` layers and any ``Conv -> BN``
pair inside an ``nn.Sequential`` (e.g. ``MultiPool(fusion="concat")``'s projection, the
frame encoder of the sequence baselines) -- and the BatchNorm replaced by
``nn.Identity``. Its outputs equal the original's in eval mode (up to float rounding;
tested); it has fewer tensors (its ``state_dict`` has no BN entries and conv biases), so
keep the original for training and checkpoints. The fast path folds eval-mode BN on the
fly anyway; the fused model makes the folding permanent and also speeds up the
reference path.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["fold_batchnorm", "fuse_for_inference"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    return (type(conv) in _CONVS and type(bn) in _NORMS and bn.running_mean is not None
            and bn.num_features == conv.out_channels)


@torch.no_grad()
def fold_batchnorm(conv: nn.Module, bn: nn.Module) -> nn.Module:
    """Fold eval-mode ``bn`` into ``conv`` (in place; ``conv`` gains a bias). Returns
    ``conv``."""
    invstd = (bn.running_var.double() + bn.eps).rsqrt()
    scale = invstd if bn.weight is None else bn.weight.double() * invstd
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift += bn.bias.double()
    if conv.bias is not None:
        shift += conv.bias.double() * scale
    w = conv.weight
    w.copy_((w.double() * scale.view(-1, *([1] * (w.dim() - 1)))).to(w.dtype))
    if conv.bias is None:
        conv.bias = nn.Parameter(torch.empty(w.shape[0], dtype=w.dtype, device=w.device))
    conv.bias.copy_(shift.to(w.dtype))
    return conv


def _fold_named(module: nn.Module, conv_name: str, bn_name: str) -> int:
    conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
    if conv is None or bn is None or not _foldable(conv, bn):
        return 0
    fold_batchnorm(conv, bn)
    setattr(module, bn_name, nn.Identity())
    return 1


def fuse_for_inference(model: nn.Module, inplace: bool = False) -> nn.Module:
    """An eval-mode copy of ``model`` (or ``model`` itself if ``inplace``) with every
    ``Conv -> BatchNorm`` pair folded (see the module docstring). The number of folded
    pairs is stored as ``fused_batchnorms`` on the returned model."""
    from snnfer.layers import FactorizedConv3d

    fused = model if inplace else copy.deepcopy(model)
    fused.eval()
    count = 0
    for module in list(fused.modules()):
        if isinstance(module, FactorizedConv3d):
            count += _fold_named(module, "pw1", "bn1") + _fold_named(module, "pw2", "bn2")
        elif isinstance(module, nn.Sequential):
            names = list(module._modules)
            for a, b in zip(names, names[1:]):
                count += _fold_named(module, a, b)
    fused.fused_batchnorms = count
    return fused
