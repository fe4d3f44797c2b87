"""Point-wise convolution + BatchNorm as one affine convolution, in training too.

``y = BN(u)``, ``u = x W^T`` (rows ``x`` ``[N, c_in]``, ``W`` ``[c_out, c_in]``) is the affine
map ``y = x (diag(s) W)^T + b`` with ``s = gamma * invstd``, ``b = beta - s * mean``. In
eval mode ``mean``/``invstd`` are the running statistics (ordinary BN folding). In
training they are the batch statistics of ``u``, which follow from the input's first and
second moments without ever forming ``u``::

    mean(u) = W m / N,    var(u)_c = w_c^T (S / N - m m^T / N^2) w_c,
    m = sum_n x_n,        S = x^T x   (c_in x c_in, float64 algebra)

so the convolution writes the normalised output directly and no element-wise pass runs
over ``u``. The backward needs only ``A = g^T x`` (the weight-gradient product the
convolution needs anyway) and ``sum(g)``: with ``k1 = s``, ``k2 = -k1 invstd^2 sum(g (u -
mean)) / N``, ``k3 = -k1 sum(g) / N`` (``k2 = k3 = 0`` in eval mode)::

    sum(g (u - mean))_c = sum_j A_cj W_cj - mean_c sum(g)_c
    dL/du = k1 g + k2 (u - mean) + k3                      (standard BN backward)
    dL/dx = g (diag(k1) W) + x (W^T diag(k2) W) + (k3 - k2 mean)^T W
    dL/dW = diag(k1) A + diag(k2) (W S - mean m^T) + k3 m^T
    dL/dgamma = invstd sum(g (u - mean)),  dL/dbeta = sum(g)

``dL/dx`` is two point-wise convolutions accumulated into one buffer. Cost: the Gram
matrix ``S`` in forward and the ``x (W^T diag(k2) W)`` term in backward (``N c_in^2`` MACs
each) replace the element-wise passes over the ``c_out``-wide ``u`` (statistics, the
affine, BN's backward sums and apply) and the buffer that holds ``u``. That pays while
``c_in^2 <= 128 c_out`` (CS3D's first three blocks) and ``N >> c_in``; otherwise the
"direct" strategy forms ``u`` and runs those passes in cache-sized chunks. Rounding: the
variance from fp32 moments has a relative error of order ``eps (1 + mean^2 / var)``, like
a one-pass variance; the tests bound the difference to PyTorch's BatchNorm.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from snnfer.fastpath.convs import pointwise, pointwise_add_, rows, weight_grad
from snnfer.fastpath.elementwise import CHUNK_ELEMENTS
from snnfer.fastpath.fuse import folded_conv

__all__ = ["PointwiseBN", "pointwise_bn"]

_F64 = torch.float64


def _chunks(n: int, c: int) -> range:
    return range(0, n, max(1, CHUNK_ELEMENTS // max(c, 1)))


@dataclass
class PointwiseBN:
    """A point-wise convolution ``weight`` ``[c_out, c_in]`` (the parameter's ``shape``)
    followed by BatchNorm, with the statistics of one call (see the module docstring).
    ``u`` holds the convolution's output for the "direct" strategy, else ``None``."""

    weight: Tensor
    shape: torch.Size
    scale: Tensor
    shift: Tensor
    mean: Tensor
    invstd: Tensor
    batch: bool
    count: int
    gram: Tensor | None = None
    colsum: Tensor | None = None
    u: Tensor | None = None
    fold: tuple[Tensor, Tensor] | None = None

    def folded(self, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """``(diag(scale) W, shift)``: the convolution that computes ``BN(x W^T)``."""
        if self.fold is not None:
            return self.fold
        return (self.weight.double() * self.scale[:, None]).to(dtype), self.shift.to(dtype)

    def forward(self, x: Tensor) -> Tensor:
        """``BN(pointwise(x))`` of a base ``x`` (one convolution, or the affine of ``u``)."""
        if self.u is not None:
            dtype = self.u.dtype
            return torch.addcmul(self.shift.to(dtype), self.u, self.scale.to(dtype))
        w, b = self.folded(x.dtype)
        return pointwise(x, w, b)

    def forward_add_(self, acc: Tensor, x: Tensor) -> Tensor:
        """``acc += BN(pointwise(x))`` (oneDNN's fused sum on float32)."""
        if self.u is not None:
            dtype = self.u.dtype
            return acc.addcmul_(self.u, self.scale.to(dtype)).add_(self.shift.to(dtype))
        w, b = self.folded(x.dtype)
        return pointwise_add_(acc, x, w, b)

    def backward(self, grad: Tensor, x: Tensor, grad_sum: Tensor, need_input: bool,
                 keep: bool = False) -> tuple[Tensor | None, Tensor, Tensor, Tensor]:
        """``(dL/dx, dL/dW, dL/dgamma, dL/dbeta)`` from ``grad = dL/dy`` (bases) and
        ``grad_sum = sum_n grad`` (float64, ``[c_out]``). ``dL/dx`` is ``None`` unless
        ``need_input``. The direct strategy overwrites ``u`` with ``dL/du`` unless
        ``keep`` (a retained graph)."""
        if self.u is not None:
            return self._backward_direct(grad, x, grad_sum, need_input, keep)
        w = self.weight.double()
        a = weight_grad(grad, x, self.weight, "pw").reshape(w.shape).double()
        s_g = grad_sum
        s_gu = (a * w).sum(1) - self.mean * s_g
        k1, k2, k3 = self._coefficients(s_g, s_gu)
        g_w = k1[:, None] * a
        if self.batch:
            g_w += k2[:, None] * (w @ self.gram - self.mean[:, None] * self.colsum[None, :])
            g_w += k3[:, None] * self.colsum[None, :]
        gx = None
        if need_input:
            dtype = grad.dtype
            w_in = (k1[:, None] * w).t().to(dtype)
            if self.batch:
                bias = ((k3 - k2 * self.mean) @ w).to(dtype)
                gx = pointwise(grad, w_in, bias)
                pointwise_add_(gx, x, (w.t() @ (k2[:, None] * w)).to(dtype))
            else:
                gx = pointwise(grad, w_in)
        return gx, g_w.to(self.weight.dtype), s_gu * self.invstd, s_g

    def _coefficients(self, s_g: Tensor, s_gu: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``dL/du = k1 g + k2 (u - mean) + k3`` (``k2 = k3 = 0`` with running stats)."""
        k1 = self.scale.double()
        if not self.batch:
            return k1, torch.zeros_like(k1), torch.zeros_like(k1)
        n = self.count
        return k1, -k1 * self.invstd * self.invstd * s_gu / n, -k1 * s_g / n

    def _backward_direct(self, grad: Tensor, x: Tensor, s_g: Tensor, need_input: bool,
                         keep: bool) -> tuple[Tensor | None, Tensor, Tensor, Tensor]:
        gu = self.u.clone() if keep else self.u
        u, gr, dtype = rows(gu), rows(grad), grad.dtype
        mean = self.mean.to(dtype)
        n, c = u.shape
        step = max(1, CHUNK_ELEMENTS // c)
        t = torch.empty(min(n, step), c, dtype=dtype)
        part = torch.empty(-(-n // step), c, dtype=dtype)
        for k, i in enumerate(_chunks(n, c)):
            m = min(step, n - i)
            torch.sum(torch.sub(u[i:i + m], mean, out=t[:m]).mul_(gr[i:i + m]), 0, out=part[k])
        s_gu = part.double().sum(0)
        k1, k2, k3 = (v.to(dtype) for v in self._coefficients(s_g, s_gu))
        for i in _chunks(n, c):  # dL/du = k1 g + k2 (u - mean) + k3, into u's memory
            m = min(step, n - i)
            uc = u[i:i + m]
            torch.addcmul(torch.sub(uc, mean, out=t[:m]).mul_(k2).add_(k3), gr[i:i + m], k1,
                          out=uc)
        if not keep:
            self.u = None
        g_w = weight_grad(gu, x, self.weight, "pw").reshape(self.weight.shape)
        gx = pointwise(gu, self.weight.t()) if need_input else None
        return gx, g_w, s_gu * self.invstd, s_g


def _moments(x: Tensor) -> tuple[Tensor, Tensor]:
    """``(sum_n x_n, x^T x)`` of a base ``x`` (float64 results). The Gram matrix is the
    weight gradient of a point-wise conv with input and output gradient ``x``: oneDNN's
    kernel for it runs at about twice the rate of ``torch.mm(x.t(), x)`` here (181 vs 85
    GMAC/s at CS3D's block-1 size)."""
    c = x.shape[-1]
    gram = weight_grad(x, x, x.new_empty(c, c), "pw")
    return rows(x).sum(0).double(), gram.double()


def _column_stats(u: Tensor) -> tuple[Tensor, Tensor]:
    """Per-column mean and biased variance of rows ``u`` ``[N, C]`` in one chunked pass
    (sums shifted by the first chunk's mean; float64 totals)."""
    n, c = u.shape
    step = max(1, CHUNK_ELEMENTS // c)
    t = torch.empty(min(n, step), c, dtype=u.dtype)
    part = torch.empty(2, -(-n // step), c, dtype=u.dtype)
    pilot = u[:step].mean(0)
    for k, i in enumerate(_chunks(n, c)):
        d = torch.sub(u[i:i + step], pilot, out=t[:min(step, n - i)])
        torch.sum(d, 0, out=part[0, k])
        torch.sum(d.mul_(d), 0, out=part[1, k])
    s1, s2 = part.double().sum(1)
    m = s1 / n
    return pilot.double() + m, (s2 / n - m * m).clamp_min_(0.0)


def use_moments(c_in: int, c_out: int, n: int) -> bool:
    """The moment ("Gram") strategy: when ``c_in^2 <= 128 c_out`` (its extra ``N c_in^2``
    MACs cost about what the element-wise passes over ``u`` do, and it needs no buffer for
    ``u``) and ``N >= 16 c_in`` (else the ``c_in^2`` matrix algebra dominates)."""
    return c_in * c_in <= 128 * c_out and n >= 16 * c_in


def pointwise_bn(weight: Tensor, bn: nn.Module, x: Tensor, bias: Tensor | None = None
                 ) -> PointwiseBN:
    """Statistics of ``bn(pointwise(x, weight))`` for a base ``x``, with PyTorch's
    BatchNorm semantics (batch statistics in training or without running statistics, and
    the running statistics then updated in place; running statistics in eval).
    ``bn=nn.Identity()`` (a BN folded by :func:`~snnfer.fastpath.fuse.fuse_for_inference`)
    gives the convolution with ``bias``; ``dL/dbeta`` is then the bias gradient."""
    w = weight.reshape(weight.shape[0], weight.shape[1])
    c_out, c_in = w.shape
    if type(bn) is nn.Identity:
        ones = torch.ones(c_out, dtype=_F64)
        shift = bias.double() if bias is not None else torch.zeros(c_out, dtype=_F64)
        return PointwiseBN(w, weight.shape, ones, shift, torch.zeros_like(ones), ones, False,
                           0, fold=folded_conv(w, bias, bn, x.dtype))
    batch = bn.training or bn.running_mean is None
    n = x.numel() // x.shape[-1]
    gram = colsum = u = fold = None
    if not batch:
        mean, var = bn.running_mean.double(), bn.running_var.double()
        fold = folded_conv(w, bias, bn, x.dtype)  # cached across eval calls
    elif use_moments(c_in, c_out, n):
        colsum, gram = _moments(x)
        wd = w.double()
        m = colsum / n
        mean = wd @ m
        cov = gram / n - torch.outer(m, m)
        var = ((wd @ cov) * wd).sum(1).clamp_min_(0.0)
    else:
        u = pointwise(x, w)
        mean, var = _column_stats(rows(u))
    if batch and bn.training and bn.track_running_stats and bn.running_mean is not None:
        _update_running(bn, mean, var, n)
    invstd = (var + bn.eps).rsqrt()
    gamma = bn.weight.double() if bn.weight is not None else torch.ones(c_out, dtype=_F64)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros(c_out, dtype=_F64)
    scale = gamma * invstd
    return PointwiseBN(w, weight.shape, scale, beta - mean * scale, mean, invstd, batch, n,
                       gram, colsum, u, fold)


def _update_running(bn: nn.Module, mean: Tensor, var: Tensor, n: int) -> None:
    """PyTorch's running-statistics update (momentum, or cumulative average if None)."""
    factor = 0.0 if bn.momentum is None else bn.momentum
    if bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            factor = 1.0 / float(bn.num_batches_tracked)
    bn.running_mean.mul_(1 - factor).add_((mean * factor).to(bn.running_mean.dtype))
    bn.running_var.mul_(1 - factor).add_((var * (factor * n / (n - 1))).to(bn.running_var.dtype))
