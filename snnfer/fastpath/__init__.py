"""Fast CPU execution of CS3D and the C3D family (issue 7): channels-last fused kernels.

>>> import torch
>>> from snnfer.layers import FactorizedConv3d
>>> from snnfer.fastpath import set_execution
>>> block = FactorizedConv3d(8, 16).eval()
>>> x = torch.randn(2, 8, 4, 12, 12)
>>> fast = block(x)                                  # default: the fused channels-last path
>>> ref = set_execution(block, "reference")(x)       # the module-by-module reference
>>> bool(torch.allclose(fast, ref, rtol=1e-4, atol=1e-5))
True
"""

from snnfer.fastpath.allocator import freed_memory_kept, keep_freed_memory, release_freed_memory
from snnfer.fastpath.execution import EXECUTION_MODES, has_hooks, set_execution
from snnfer.fastpath.fuse import fold_batchnorm, fuse_for_inference

__all__ = ["EXECUTION_MODES", "fold_batchnorm", "freed_memory_kept", "fuse_for_inference",
           "has_hooks", "keep_freed_memory", "release_freed_memory", "set_execution"]
