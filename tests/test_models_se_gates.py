"""cvcourse.models.se.se_gates: the gates recorded by hooks equal the ones a hand-written forward
pass computes, block by block (BasicBlock and Bottleneck SE-ResNets and a bare SEBlock); batching
does not change them; the model's modes and hooks are left as they were; empty and bad input."""
import pytest
import torch
from torch import nn

from cvcourse.models import Bottleneck, ResNet, SEBlock, resnet_cifar, se_resnet_cifar
from cvcourse.models.se import se_gates


def _trained_like(model: nn.Module, seed: int) -> nn.Module:
    """Random BN statistics and affine parameters, so eval mode differs from train mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


def loop_gates(model: ResNet, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The gates by a hand-written eval-mode forward pass: each block's residual branch, then its
    SE gate, image by image."""
    model.eval()
    out = {}
    with torch.no_grad():
        for n in range(len(images)):
            x = model.stem(images[n:n + 1])
            for s, stage in enumerate(model.stages):
                for b, block in enumerate(stage):
                    r = block.relu(block.bn1(block.conv1(x)))
                    if isinstance(block, Bottleneck):
                        r = block.relu(block.bn2(block.conv2(r)))
                        r = block.bn3(block.conv3(r))
                    else:
                        r = block.bn2(block.conv2(r))
                    s_mean = r.mean((2, 3))                                         # (1, C) squeeze
                    gate = torch.sigmoid(block.se.fc2(torch.relu(block.se.fc1(s_mean))))
                    out.setdefault(f"stages.{s}.{b}.se", []).append(gate)
                    x = block(x)
    return {k: torch.cat(v) for k, v in out.items()}


@pytest.mark.parametrize("make", [
    lambda: se_resnet_cifar(8, 5, reduction=4, width=8),
    lambda: se_resnet_cifar(14, 3, reduction=2, width=4),
    lambda: ResNet(Bottleneck, (1, 2), 4, widths=(4, 8), stem="cifar", se_reduction=4),
], ids=["basic-8", "basic-14", "bottleneck"])
def test_se_gates_equal_a_hand_written_forward(make):
    torch.manual_seed(0)
    model = _trained_like(make(), seed=1)
    images = torch.rand(5, 3, 12, 10, generator=torch.Generator().manual_seed(2))
    got = se_gates(model, images)
    want = loop_gates(model, images)
    assert list(got) == list(want)                  # every SE block, early ones first
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-6)
        assert got[name].dtype == torch.float32 and not got[name].requires_grad
        assert ((got[name] > 0) & (got[name] < 1)).all()


def test_se_gates_of_a_bare_block_is_its_gate():
    torch.manual_seed(0)
    block = SEBlock(6, 2)
    x = torch.randn(4, 6, 3, 3)
    gates = se_gates(nn.Sequential(block), x)
    assert list(gates) == ["0"]
    torch.testing.assert_close(gates["0"], block.gate(x))
    torch.testing.assert_close(x * gates["0"][:, :, None, None], block(x))   # what the block multiplies by


@pytest.mark.parametrize("batch_size", [1, 2, 7, 1000])
def test_se_gates_do_not_depend_on_the_batching(batch_size):
    torch.manual_seed(0)
    model = _trained_like(se_resnet_cifar(8, 4, reduction=4, width=8), seed=3)
    images = torch.rand(7, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    whole = se_gates(model, images, batch_size=len(images))
    parts = se_gates(model, images, batch_size=batch_size)
    for name in whole:
        torch.testing.assert_close(parts[name], whole[name], rtol=1e-5, atol=1e-6)


def test_se_gates_restore_modes_and_remove_hooks():
    torch.manual_seed(0)
    model = se_resnet_cifar(8, 4, reduction=4, width=8)
    model.train()
    model.stages[0].eval()                           # a mixed state is restored module by module
    before = [m.training for m in model.modules()]
    se_gates(model, torch.rand(2, 3, 8, 8))
    assert [m.training for m in model.modules()] == before
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(RuntimeError):                # 4 input channels: the stem's conv fails
        se_gates(model, torch.rand(2, 4, 8, 8))
    assert [m.training for m in model.modules()] == before
    assert all(not m._forward_hooks for m in model.modules())


def test_se_gates_of_no_images():
    model = se_resnet_cifar(8, 4, reduction=4, width=8)
    gates = se_gates(model, torch.zeros(0, 3, 8, 8))
    assert [tuple(g.shape) for g in gates.values()] == [(0, 8), (0, 16), (0, 32)]
    assert all(g.dtype == torch.float32 for g in gates.values())


def test_se_gates_float64_model():
    torch.manual_seed(0)
    model = se_resnet_cifar(8, 4, reduction=4, width=8).double()
    gates = se_gates(model, torch.rand(3, 3, 8, 8, dtype=torch.float64))
    assert all(g.dtype == torch.float32 and g.shape[0] == 3 for g in gates.values())


@pytest.mark.parametrize("model, images, kwargs, error, match", [
    ("not a model", torch.rand(1, 3, 8, 8), {}, TypeError, r"model: expected an nn.Module, got str"),
    (None, [[0.0]], {}, TypeError, r"images: expected a floating-point Tensor\[N, C, H, W\].*got list"),
    (None, torch.zeros(1, 3, 8, 8, dtype=torch.uint8), {}, TypeError,
     r"images: expected a floating-point Tensor.*got a torch.uint8 Tensor"),
    (None, torch.rand(3, 8, 8), {}, ValueError, r"images: expected Tensor\[N, C, H, W\], got Tensor\[3, 8, 8\]"),
    (None, torch.rand(1, 3, 8, 8), {"batch_size": 0}, ValueError, r"batch_size: expected an int >= 1, got 0"),
    (None, torch.rand(1, 3, 8, 8), {"batch_size": 2.0}, TypeError, r"batch_size: expected an int"),
    ("plain", torch.rand(1, 3, 8, 8), {}, ValueError, r"model: expected a network with SEBlocks, found none in ResNet"),
])
def test_se_gates_bad_input(model, images, kwargs, error, match):
    if model is None:
        model = se_resnet_cifar(8, 4, reduction=4, width=8)
    elif model == "plain":
        model = resnet_cifar(8, 4, width=8)
    with pytest.raises(error, match=match):
        se_gates(model, images, **kwargs)
