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
from weakref import WeakKeyDictionary

import torch
from torch import Tensor, nn

__all__ = ["fold_batchnorm", "folded_conv", "fuse_for_inference"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _foldable(conv: nn.Module, bn: nn.Module) -> bool:
    return (type(conv) in _CONVS and type(bn) in _NORMS and bn.running_mean is not None
            and bn.num_features == conv.out_channels)


def _folded(weight: Tensor, bias: Tensor | None, bn: nn.Module, dtype: torch.dtype
            ) -> tuple[Tensor, Tensor]:
    """``(W', b')`` of the module docstring, computed in float64, returned in ``dtype``."""
    invstd = (bn.running_var.double() + bn.eps).rsqrt()
    scale = invstd if bn.weight is None else bn.weight.double() * invstd
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    if bias is not None:
        shift = shift + bias.double() * scale
    w = weight.double() * scale.view(-1, *([1] * (weight.dim() - 1)))
    if w.dim() == 5:  # oneDNN reorders a 3-D kernel from this layout far faster
        return w.to(dtype, memory_format=torch.channels_last_3d), shift.to(dtype)
    return w.to(dtype), shift.to(dtype)


_CACHE: WeakKeyDictionary = WeakKeyDictionary()


def folded_conv(weight: Tensor, bias: Tensor | None, bn: nn.Module, dtype: torch.dtype
                ) -> tuple[Tensor, Tensor]:
    """Weight and bias of ``conv`` followed by eval-mode ``bn`` (``nn.Identity`` allowed).

    Without autograd the result is cached per ``bn`` until one of the tensors it depends
    on changes (data pointer and version counter, i.e. any in-place update such as an
    optimizer step or ``load_state_dict``), so repeated inference does not re-fold. With
    autograd enabled it is recomputed, differentiably.
    """
    if type(bn) is nn.Identity:
        b = bias if bias is not None else torch.zeros(weight.shape[0], dtype=weight.dtype)
        return weight.to(dtype), b.to(dtype)
    if torch.is_grad_enabled():
        return _folded(weight, bias, bn, dtype)
    parts = (weight, bias, bn.weight, bn.bias, bn.running_mean, bn.running_var)
    key = (tuple(None if t is None else (t.data_ptr(), t._version) for t in parts), dtype,
           bn.eps)
    hit = _CACHE.get(bn)
    if hit is None or hit[0] != key:
        hit = (key, *_folded(weight, bias, bn, dtype))
        _CACHE[bn] = hit
    return hit[1], hit[2]


@torch.no_grad()
def fold_batchnorm(conv: nn.Module, bn: nn.Module) -> nn.Module:
    """Fold eval-mode ``bn`` into ``conv`` (in place; ``conv`` gains a bias). Returns
    ``conv``."""
    w, b = _folded(conv.weight, conv.bias, bn, conv.weight.dtype)
    conv.weight.copy_(w)
    if conv.bias is None:
        conv.bias = nn.Parameter(torch.empty_like(b))
    conv.bias.copy_(b)
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
