"""Cache-tiled inference (issue 7): tiled blocks compute exactly what the reference does."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from snnfer.energy.compare import calibrate_batchnorm
from snnfer.errors import InputShapeError
from snnfer.fastpath import factorized, set_execution, tiled
from snnfer.fastpath.blocks import conv_bn_act_forward
from snnfer.fastpath.elementwise import activation_of
from snnfer.layers import FactorizedConv3d
from snnfer.models import create_model, fuse_for_inference
from snnfer.models.c3d import ConvBNAct3d
from tests.conftest import TINY_C3D, randomize_bn

F64 = torch.float64


@pytest.fixture
def tiles(monkeypatch):
    """Force tiling of every block, ``tile_bytes`` per chunk intermediate (1: the
    smallest chunk, ``kt`` frames; huge: whole clips, several per chunk); counts the
    tiled calls."""
    calls = {"factorized": 0}
    real = tiled.tiled_factorized

    def counting(*args, **kwargs):
        calls["factorized"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(factorized, "tiled_factorized", counting)

    def set_(tile_bytes: int) -> dict:
        monkeypatch.setattr(tiled, "MIN_TILED_BYTES", 0)
        monkeypatch.setattr(tiled, "TILE_BYTES", tile_bytes)
        return calls

    return set_


def _block(cin, cout, dtype=F64, **kw):
    torch.manual_seed(1)
    block = FactorizedConv3d(cin, cout, **kw).to(dtype).eval()
    randomize_bn(block)
    return block


def _reference(module, x, pool):
    ref = set_execution(copy.deepcopy(module), "reference")
    with torch.no_grad():
        y = ref(x)
        return nn.MaxPool3d(pool)(y) if pool else y


@pytest.mark.parametrize("cin,cout", [(3, 8), (8, 8)])  # projection and identity shortcut
@pytest.mark.parametrize("pool", [None, (1, 2, 2), (2, 2, 2)])
@pytest.mark.parametrize("t", [5, 6])  # 5: the pool drops the last frame
@pytest.mark.parametrize("tile_bytes", [1, 1 << 30])
def test_tiled_factorized_block_equals_reference(tiles, cin, cout, pool, t, tile_bytes):
    calls = tiles(tile_bytes)
    block = _block(cin, cout)
    x = torch.randn(3, cin, t, 9, 11, dtype=F64)  # odd H, W: the pool crops
    with torch.no_grad():
        got = factorized.factorized_forward(block, x, nn.MaxPool3d(pool) if pool else None)
    assert calls["factorized"] == 1
    want = _reference(block, x, pool)
    assert (want != 0).float().mean() > 0.1  # a live SSN network
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert got.is_contiguous(memory_format=torch.channels_last_3d)


@pytest.mark.parametrize("neuron,kwargs", [("relu", {}), ("ssn", {"threshold": -0.2})])
def test_tiled_block_other_activations(tiles, neuron, kwargs):
    """ReLU, and an SSN with a negative threshold (not monotone: act before the pool)."""
    tiles(1)
    block = _block(4, 6, neuron=neuron, neuron_kwargs=kwargs)
    x = torch.randn(2, 4, 4, 8, 8, dtype=F64)
    with torch.no_grad():
        got = factorized.factorized_forward(block, x, nn.MaxPool3d((1, 2, 2)))
    torch.testing.assert_close(got, _reference(block, x, (1, 2, 2)), rtol=1e-10, atol=1e-12)


def test_tiled_block_float32_and_folded_bn(tiles):
    tiles(1)
    block = _block(3, 16, dtype=torch.float32)
    x = torch.randn(2, 3, 4, 12, 12)
    want = _reference(block, x, (1, 2, 2))
    fused = fuse_for_inference(copy.deepcopy(block))
    assert type(fused.bn1) is nn.Identity
    with torch.no_grad():
        for m in (block, fused):
            got = factorized.factorized_forward(m, x, nn.MaxPool3d((1, 2, 2)))
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("tiled_run", [True, False])
@pytest.mark.parametrize("cin,merges", [(2, True), (3, True), (6, False)])
def test_few_input_channels_merge_temporal_and_pointwise(tiles, monkeypatch, tiled_run, cin,
                                                         merges):
    """float32 inference runs ``PW1 o DW_t`` as one dense ``3 x 1 x 1`` conv when ``c_in *
    k <= 16`` (tiled and untiled); the result equals the separate convs and the
    reference."""
    tiles(1)
    if not tiled_run:
        monkeypatch.setattr(tiled, "MIN_TILED_BYTES", 1 << 40)
    dense = []
    real = tiled.dense_conv3d

    def recording(x, weight, *args, **kwargs):
        dense.append(tuple(weight.shape))
        return real(x, weight, *args, **kwargs)

    monkeypatch.setattr(tiled, "dense_conv3d", recording)
    block = _block(cin, 16, dtype=torch.float32)
    x = torch.randn(2, cin, 5, 12, 12)
    pool = nn.MaxPool3d((1, 2, 2))
    with torch.no_grad():
        got = factorized.factorized_forward(block, x, pool)
        assert bool(dense) == merges and all(s == (16, cin, 3, 1, 1) for s in dense)
        monkeypatch.setattr(tiled, "MERGED_TEMPORAL_MAX_INPUTS", 0)
        separate = factorized.factorized_forward(block, x, pool)
    torch.testing.assert_close(got, separate, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got, _reference(block, x, (1, 2, 2)), rtol=1e-5, atol=1e-5)
    assert (got != 0).float().mean() > 0.1


def test_tiling_only_without_autograd_with_running_statistics(tiles):
    calls = tiles(1)
    block = _block(3, 8)
    x = torch.randn(2, 3, 4, 8, 8, dtype=F64)
    factorized.factorized_forward(block, x.requires_grad_())  # autograd: the fused Function
    with torch.no_grad():
        factorized.factorized_forward(block.train(), x)  # batch statistics: untiled
    assert calls["factorized"] == 0
    with torch.no_grad():
        factorized.factorized_forward(block.eval(), x)
    assert calls["factorized"] == 1


def test_use_tiling_size_threshold():
    shape = (1, 16, 112, 112, 64)  # CS3D block 1 at batch 1: 51 MB of float32
    bn = nn.BatchNorm3d(64).eval()
    with torch.no_grad():
        assert tiled.use_tiling(shape, 4, (bn,))
        assert not tiled.use_tiling((1, 2, 14, 14, 64), 4, (bn,))  # 100 KB: cache-sized
        assert not tiled.use_tiling(shape, 4, (bn.train(),))
    assert not tiled.use_tiling(shape, 4, (bn.eval(),))  # autograd on


def test_chunk_frames():
    assert tiled.TILE_BYTES == 4 << 20
    assert tiled.chunk_frames(64 * 112 * 112 * 4, 16, 1) == 1  # CS3D block 1: 3.2 MB/frame
    assert tiled.chunk_frames(128 * 56 * 56 * 4, 16, 2) == 2  # block 2: 1.6 MB, pool 2
    assert tiled.chunk_frames(256 * 28 * 28 * 4, 8, 2) == 4  # block 3: 0.8 MB
    assert tiled.chunk_frames(100, 4, 2) == 4  # never more than the clip
    assert tiled.chunk_frames(100, 5, 2) == 6  # ... rounded up to the pool window
    assert tiled.chunk_frames(1 << 30, 16, 2) == 2  # at least one pool window
    assert tiled.chunk_frames(100, 0, 2) == 2  # never 0 (a range step)


def test_clip_shorter_than_the_pool_window_raises_like_the_reference(tiles):
    """The reference's max_pool3d raises on a clip shorter than the window; so do the
    fast path's index-free pool (a typed error naming the sizes) and the tiled paths,
    which step aside for such clips."""
    calls = tiles(1)
    block = _block(3, 8)
    x = torch.randn(1, 3, 1, 8, 8, dtype=F64)
    with torch.no_grad():
        with pytest.raises(RuntimeError):
            nn.MaxPool3d((2, 2, 2))(set_execution(copy.deepcopy(block), "reference")(x))
        with pytest.raises(InputShapeError, match=r"kernel \(T, H, W\) = \(2, 2, 2\).*"
                                                  r"\(T, H, W\) = \(1, 8, 8\)"):
            factorized.factorized_forward(block, x, nn.MaxPool3d((2, 2, 2)))
        assert conv_bn_act_forward(_conv_block(3, 8), x, (2, 2, 2)) is None  # not tiled
    assert calls["factorized"] == 0


def _conv_block(cin, cout, neuron="relu"):
    torch.manual_seed(2)
    block = ConvBNAct3d(cin, cout, neuron, {}).to(F64).eval()
    randomize_bn(block)
    return block


@pytest.mark.parametrize("pool", [None, (1, 2, 2), (2, 2, 2)])
@pytest.mark.parametrize("tile_bytes", [1, 1 << 30])
def test_tiled_c3d_conv_block_equals_reference(tiles, pool, tile_bytes):
    tiles(tile_bytes)
    block = _conv_block(3, 8)
    assert tiled.supports_tiled_conv(block)
    x = torch.randn(2, 3, 5, 9, 10, dtype=F64)
    with torch.no_grad():
        got = tiled.tiled_conv_bn_act(block, x, activation_of(block.act), pool)
    got = got.permute(0, 4, 1, 2, 3)
    torch.testing.assert_close(got, _reference(block, x, pool), rtol=1e-10, atol=1e-12)


def test_only_memory_bound_dense_convs_are_tiled():
    assert tiled.supports_tiled_conv(_conv_block(3, 8))  # 81 MACs per output element
    assert not tiled.supports_tiled_conv(_conv_block(8, 8))  # 216: compute-bound
    block = _conv_block(3, 8)
    block.conv.padding = (0, 1, 1)
    assert not tiled.supports_tiled_conv(block)


@pytest.mark.parametrize("name", ["c3d", "c3d_factorized", "cs3d"])
@pytest.mark.parametrize("tile_bytes", [1, 1 << 30])
def test_tiled_models_equal_reference(tiles, name, tile_bytes):
    calls = tiles(tile_bytes)
    torch.manual_seed(0)
    model = create_model(name, num_classes=5, in_channels=2, **TINY_C3D).to(F64)
    x = torch.rand(2, 16, 2, 32, 32, generator=torch.Generator().manual_seed(1), dtype=F64)
    calibrate_batchnorm(model, x)
    model.eval()
    with torch.no_grad():
        got = model.set_execution("fast")(x)
        want = copy.deepcopy(model).set_execution("reference")(x)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert calls["factorized"] == (5 if name != "c3d" else 0)
