"""spiking_fer against spikingjelly 2.0's own SEW-ResNet-18 (ADD, IF, ATan, detach_reset)."""

from __future__ import annotations

import pytest
import torch

from snnfer.models import create_model
from tests.conftest import require

pytestmark = pytest.mark.interop


def _spikingjelly_sew_resnet18(num_classes: int):
    require("torchvision")  # spikingjelly's model zoo imports it
    require("spikingjelly")
    from spikingjelly.activation_based import functional, layer, neuron, surrogate
    from spikingjelly.activation_based.model import sew_resnet

    net = sew_resnet.sew_resnet18(cnf="ADD", spiking_neuron=neuron.IFNode,
                                  surrogate_function=surrogate.ATan(), detach_reset=True,
                                  num_classes=num_classes)
    # Spiking-FER's changes: 2 input channels, bias-free classifier
    net.conv1 = layer.Conv2d(2, 64, 7, 2, 3, bias=False)
    net.fc = layer.Linear(512, num_classes, bias=False)
    functional.set_step_mode(net, "m")
    return net, functional


def test_spiking_fer_equals_spikingjelly_sew_resnet18():
    ref, functional = _spikingjelly_sew_resnet18(6)
    mine = create_model("spiking_fer", 6, 2, input_size=(3, 48, 48), zero_init_residual=False)
    ref_params, my_params = list(ref.parameters()), list(mine.parameters())
    assert [p.shape for p in ref_params] == [p.shape for p in my_params]
    with torch.no_grad():
        for a, b in zip(ref_params, my_params):
            b.copy_(a)
    x = (torch.rand(2, 3, 2, 48, 48) < 0.3).float()  # [B, T, C, H, W] binary event frames
    functional.reset_net(ref)
    expected = ref(x.transpose(0, 1)).mean(0)  # spikingjelly: [T, B, classes]
    out = mine(x)
    assert expected.abs().max() > 0.1  # neurons fired: a meaningful comparison
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    expected.sum().backward()
    out.sum().backward()
    for a, b in zip(ref_params, my_params):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-5)
