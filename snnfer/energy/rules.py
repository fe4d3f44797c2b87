"""snnfer's counting rules for what thop does not count.

Three kinds (the issue's "counting rules for snnfer's own modules", CS3D §IV-B):

- **neurons** (:func:`neuron_cost`): a fixed number of MACs and ACs per input element and
  time step, by neuron type;
- **synaptic non-zero operations** (:func:`nonzero_synaptic_ops`): for a conv/linear layer,
  the number of multiply-accumulates whose input operand is non-zero -- what an
  event-driven (zero-skipping) accelerator executes, exact including zero padding;
- **functional tensor operations** (:data:`FUNCTIONAL_RULES`): products, element-wise
  arithmetic, reductions and pooling called inside a module's ``forward`` (attention
  products, residual additions), recorded at the aten level.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnfer.neuron.lif import IFNode, LIFNode, _BinaryNeuron
from snnfer.neuron.ssn import SoftSpikingNeuron

__all__ = ["FUNCTIONAL_RULES", "OpSink", "neuron_cost", "nonzero_synaptic_ops"]

aten = torch.ops.aten


# -- neurons -----------------------------------------------------------------------------
def neuron_cost(module: nn.Module) -> tuple[int, int]:
    """``(MACs, ACs)`` per input element and time step of a neuron layer.

    ======================================  ====  ===  ==========================================
    neuron                                  MAC   AC   operations
    ======================================  ====  ===  ==========================================
    SSN, stateless (CS3D Eq. 1)             0     2    compare with theta; gate x
    SSN, stateful (decay)                   1     3    decay*v + x; compare; gate; reset
    SSN, stateful, ``reset="none"``         1     2    decay*v + x; compare; gate
    IF (snnfer's or a library's ``IFNode``) 0     3    v + x; compare; reset
    LIF, ``decay_input=True``               2     2    decay*v and x/tau; compare; reset
    LIF, ``decay_input=False``              1     2    decay*v + x; compare; reset
    other libraries' neurons                1     2    counted as LIF with an undecayed input
    ======================================  ====  ===  ==========================================
    """
    inner = getattr(module, "module", None)
    if isinstance(inner, nn.Module) and not isinstance(module, (SoftSpikingNeuron, _BinaryNeuron)):
        module = inner  # a wrapped library neuron: classify the library's module
    if isinstance(module, SoftSpikingNeuron):
        if not module.stateful:
            return 0, 2
        return 1, 2 if module.reset_mode == "none" else 3
    if isinstance(module, IFNode) or type(module).__name__ == "IFNode":
        return 0, 3
    if isinstance(module, LIFNode):
        return (2, 2) if module.decay_input else (1, 2)
    return 1, 2


# -- synaptic layers ---------------------------------------------------------------------
def _conv_nonzero_ops(x: Tensor, weight: Tensor, stride: Any, padding: Any, dilation: Any,
                      groups: int) -> float:
    """Weight uses with a non-zero input: conv of the per-group non-zero count with ones."""
    dims = weight.dim() - 2
    if x.dim() == dims + 1:
        x = x.unsqueeze(0)
    n, c = x.shape[:2]
    mask = (x != 0).to(torch.float32)
    per_group = mask.reshape(n, groups, c // groups, *x.shape[2:]).sum(2)
    ones = torch.ones((groups, 1, *weight.shape[2:]), dtype=torch.float32, device=x.device)
    conv = (F.conv1d, F.conv2d, F.conv3d)[dims - 1]
    uses = conv(per_group, ones, None, stride, padding, dilation, groups)
    return float(uses.sum(dtype=torch.float64)) * (weight.shape[0] // groups)


def nonzero_synaptic_ops(module: nn.Module, x: Tensor) -> float | None:
    """Multiply-accumulates of ``module`` on ``x`` whose input operand is non-zero.

    Exact for ``nn.Linear`` (non-zeros x out_features) and non-transposed convolutions
    (zero padding contributes nothing; other padding modes are applied first). ``None``
    when no exact rule exists (transposed convolutions): the caller uses dense x rate.
    """
    if isinstance(module, nn.Linear):
        return float(torch.count_nonzero(x)) * module.out_features
    if isinstance(module, nn.modules.conv._ConvNd) and not module.transposed:
        padding = module.padding
        if module.padding_mode != "zeros":
            x = F.pad(x, module._reversed_padding_repeated_twice, mode=module.padding_mode)
            padding = 0
        return _conv_nonzero_ops(x, module.weight, module.stride, padding, module.dilation,
                                 module.groups)
    return None


# -- functional operations ---------------------------------------------------------------
class OpSink(Protocol):
    """What a functional rule reports to (implemented by the counter in ``ops.py``)."""

    def fixed(self, macs: float = 0.0, acs: float = 0.0, other: float = 0.0) -> None:
        """Operations whose type does not depend on the data (priced dense)."""

    def activation(self, dense_macs: float, x: Tensor,
                   spike_driven: Callable[[], float | None] | None) -> None:
        """Multiply-accumulates whose type follows the activation operand ``x``;
        ``spike_driven()``: the exact count with a non-zero ``x`` operand."""


def _numel(value: Any) -> int:
    if isinstance(value, Tensor):
        return value.numel()
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], Tensor):
        return value[0].numel()
    return 0


def _is_binary(x: Tensor) -> bool:
    return int(torch.count_nonzero(x == 1)) == int(torch.count_nonzero(x))


def _product(sink: OpSink, x: Tensor, y: Tensor) -> None:
    """``x @ y`` (2-D or batched): the left operand is the activation unless only the right
    one is binary (then the product is accumulate-only through ``y``)."""
    m, k = x.shape[-2], x.shape[-1]
    n = y.shape[-1]
    batch = x.numel() // (m * k)
    dense = float(batch * m * n * k)
    if not _is_binary(x) and _is_binary(y):
        sink.activation(dense, y, lambda: float(torch.count_nonzero(y)) * m)
    else:
        sink.activation(dense, x, lambda: float(torch.count_nonzero(x)) * n)


def _mm(sink: OpSink, args: tuple, out: Any) -> None:
    _product(sink, args[0], args[1])


def _addmm(sink: OpSink, args: tuple, out: Any) -> None:
    _product(sink, args[1], args[2])


def _convolution(sink: OpSink, args: tuple, out: Any) -> None:
    """Dense MACs as thop counts them (output positions x fan-in); a transposed conv
    scatters every input element to c_out/groups x kernel outputs."""
    x, w = args[0], args[1]
    stride, padding, dilation, transposed, groups = args[3], args[4], args[5], args[6], args[8]
    per_element = w.shape[1] * math.prod(w.shape[2:])
    if transposed:
        sink.activation(float(x.numel() * per_element), x,
                        lambda: float(torch.count_nonzero(x)) * per_element)
        return
    sink.activation(float(_numel(out) * per_element), x,
                    lambda: _conv_nonzero_ops(x, w, stride, padding, dilation, groups))


def _sdpa(sink: OpSink, args: tuple, out: Any) -> None:
    q, k, v = args[:3]
    lead = math.prod(q.shape[:-2])
    sink.fixed(macs=float(lead * q.shape[-2] * k.shape[-2] * (q.shape[-1] + v.shape[-1])),
               other=float(lead * q.shape[-2] * k.shape[-2]))


def _multiply(sink: OpSink, args: tuple, out: Any) -> None:
    sink.fixed(macs=_numel(out))


def _add(sink: OpSink, args: tuple, out: Any) -> None:
    sink.fixed(acs=_numel(out))


def _reduce(sink: OpSink, args: tuple, out: Any) -> None:
    sink.fixed(acs=max(args[0].numel() - _numel(out), 0))


def _mean(sink: OpSink, args: tuple, out: Any) -> None:
    sink.fixed(acs=max(args[0].numel() - _numel(out), 0), macs=_numel(out))


def _kernel_elements(args: tuple, dims: int) -> int:
    kernel = args[1]
    kernel = list(kernel) if isinstance(kernel, (list, tuple)) else [kernel]
    if len(kernel) == 1:
        kernel = kernel * dims
    return math.prod(kernel)


def _pool(dims: int, average: bool) -> Callable[[OpSink, tuple, Any], None]:
    def rule(sink: OpSink, args: tuple, out: Any) -> None:
        n_out = _numel(out)
        sink.fixed(acs=n_out * (_kernel_elements(args, dims) - 1),
                   macs=n_out if average else 0)

    return rule


def _nonlinear(sink: OpSink, args: tuple, out: Any) -> None:
    sink.fixed(other=_numel(out))


_MULTIPLIES = (aten.mul, aten.mul_, aten.div, aten.div_)
_ADDITIONS = (aten.add, aten.add_, aten.sub, aten.sub_, aten.rsub, aten.maximum, aten.minimum,
              aten.gt, aten.ge, aten.lt, aten.le)
_REDUCTIONS = (aten.sum, aten.amax, aten.amin, aten.max, aten.min)
_NONLINEAR = (aten.sigmoid, aten.sigmoid_, aten.tanh, aten.exp, aten._softmax, aten._log_softmax,
              aten.gelu, aten.silu, aten.erf)

FUNCTIONAL_RULES: dict[Any, Callable[[OpSink, tuple, Any], None]] = {
    aten.mm: _mm, aten.bmm: _mm, aten.addmm: _addmm, aten.baddbmm: _addmm,
    aten.convolution: _convolution,
    aten._scaled_dot_product_flash_attention_for_cpu: _sdpa,
    aten._scaled_dot_product_flash_attention: _sdpa,
    aten._scaled_dot_product_efficient_attention: _sdpa,
    **dict.fromkeys(_MULTIPLIES, _multiply),
    **dict.fromkeys(_ADDITIONS, _add),
    **dict.fromkeys(_REDUCTIONS, _reduce),
    aten.mean: _mean,
    aten.max_pool1d_with_indices: _pool(1, False), aten.max_pool2d_with_indices: _pool(2, False),
    aten.max_pool3d_with_indices: _pool(3, False),
    aten.avg_pool1d: _pool(1, True), aten.avg_pool2d: _pool(2, True),
    aten.avg_pool3d: _pool(3, True),
    **dict.fromkeys(_NONLINEAR, _nonlinear),
}
"""aten op (overload packet) -> rule: products follow their activation operand (AC / sparse
MAC / MAC); multiplies and divides are MACs, additions, comparisons and reductions ACs, one
per output (reduced-away input) element; pools count (kernel - 1) ACs per output (average
pools one MAC more for the division); sigmoid/tanh/exp/softmax evaluations are reported as
``other`` and not priced."""
