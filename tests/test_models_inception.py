"""cvcourse.models.inception: parameter counts worked by hand and tied to the paper's Table 1 and to
torchvision, output shapes (ImageNet and small stems), the aux heads (train mode only, loss 0.3),
and bad arguments. Full-size models are built on the meta device (no memory, no compute)."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cvcourse.models import (
    INCEPTION_CONFIG,
    GoogLeNet,
    GoogLeNetOutputs,
    Inception,
    InceptionAux,
    InceptionNaive,
    googlenet,
    googlenet_loss,
)
from cvcourse.sizes import summary


def _params(model):
    return sum(p.numel() for p in model.parameters())


def _weights(model):
    """Weights only (no biases, no BN), the way the paper's Table 1 counts."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def _meta(**kwargs):
    with torch.device("meta"):
        return googlenet(**kwargs)


# ----------------------------------------------------------------------------- parameter counts
def test_inception_3a_params_by_hand():
    block = Inception(192, *INCEPTION_CONFIG["3a"])
    weights = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32  # 163,328
    assert _weights(block) == weights == 163_328  # Table 1: 159K with K = 1024 (163,328 / 1024 = 159.5)
    assert _params(block) == weights + (64 + 96 + 128 + 16 + 32 + 32)
    assert block.out_channels == 256


def test_naive_inception_costs_more_than_the_reduced_one():
    naive, reduced = InceptionNaive(192, 64, 128, 32), Inception(192, *INCEPTION_CONFIG["3a"])
    assert naive.out_channels == 64 + 128 + 32 + 192
    assert _params(naive) == (192 * 64 + 64) + (9 * 192 * 128 + 128) + (25 * 192 * 32 + 32) == 387_296
    # stride-1 'same' convolutions: MACs = H * W * (number of conv weights)
    naive_macs = summary(naive, (1, 192, 28, 28), print_table=False).total_macs
    reduced_macs = summary(reduced, (1, 192, 28, 28), print_table=False).total_macs
    assert naive_macs == 28 * 28 * _weights(naive) == 303_464_448
    assert reduced_macs == 28 * 28 * 163_328 == 128_049_152


def test_module_widths_follow_table_1():
    model = _meta(aux_logits=False)
    outs = [getattr(model, f"inception{name}").out_channels for name in INCEPTION_CONFIG]
    assert outs == [256, 480, 512, 512, 512, 528, 832, 832, 1024]  # Table 1, "depth" of each output


def test_googlenet_parameter_counts():
    # The paper's Table 1 "params" column counts weights only, in K = 1024: 2.7K + 112K + 159K + 380K
    # + 364K + 437K + 463K + 580K + 840K + 1072K + 1388K + 1000K = 6,797.7K, the "about 6.8M" usually
    # quoted. The column is not self-consistent (conv1 7x7x3x64 = 9,408 weights is listed as 2.7K;
    # 4c is listed as 463K but its columns give 509,440 weights = 497.5K; 5a as 1072K for 1018K); the
    # architecture the columns describe has 6,990,272 weights = 6,826.4K, and 6,998,552 parameters
    # with biases. Each aux head adds about 3.19M (its FC 2048 -> 1024 has 2.1M alone).
    paper = _meta(aux_logits=False)
    assert _weights(paper) == 6_990_272
    assert _params(paper) == 6_998_552
    with_aux = _meta()
    aux1 = (512 * 128 + 128) + (2048 * 1024 + 1024) + (1024 * 1000 + 1000)
    aux2 = (528 * 128 + 128) + (2048 * 1024 + 1024) + (1024 * 1000 + 1000)
    assert (_params(with_aux.aux1), _params(with_aux.aux2)) == (aux1, aux2) == (3_188_840, 3_190_888)
    assert _params(with_aux) == 6_998_552 + aux1 + aux2 == 13_378_280


def test_googlenet_with_batch_norm_matches_torchvision_count():
    bn = _meta(aux_logits=False, batch_norm=True)
    assert _params(bn) == 7_005_832
    assert _params(_meta(batch_norm=True)) == 13_385_816
    # torchvision's googlenet (BN, no aux: 6,624,904 parameters) uses 3x3 kernels in the "5x5"
    # branches (a bug kept for its pretrained weights): 16 fewer weights per 5x5red x 5x5 pair.
    assert _params(bn) - 16 * sum(cfg[3] * cfg[4] for cfg in INCEPTION_CONFIG.values()) == 6_624_904
    assert not any(isinstance(m, nn.LocalResponseNorm) for m in bn.modules())
    assert all(m.bias is None for m in bn.modules() if isinstance(m, nn.Conv2d))


def test_paper_version_has_no_batch_norm_and_two_lrn():
    model = _meta()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in model.modules()) == 2
    assert isinstance(model.aux1.pool, nn.AvgPool2d) and model.aux1.pool.kernel_size == 5 and model.aux1.pool.stride == 3
    assert model.dropout.p == 0.4 and model.aux1.dropout.p == 0.7


def test_googlenet_macs_at_224():
    found = summary(_meta(aux_logits=False), (1, 3, 224, 224), device="meta", print_table=False)
    assert found.total_macs == 1_582_671_872  # the paper: "1.5 billion multiply-adds at inference time"


def test_width_scales_every_channel_count():
    model = _meta(width=0.5)
    assert model.inception3a.out_channels == 128 and model.inception5b.out_channels == 512
    assert model.aux1.conv[0].out_channels == 64 and model.aux1.fc1.out_features == 512
    assert model.fc.in_features == 512


# ----------------------------------------------------------------------------- shapes
def _hooked_shapes(model, x):
    shapes = {}
    hooks = [getattr(model, f"inception{name}").register_forward_hook(
        lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[2:]))) for name in INCEPTION_CONFIG]
    out = model(x)
    for h in hooks:
        h.remove()
    return out, shapes


def test_imagenet_stem_map_sizes_follow_table_1():
    model = _meta().eval()
    out, shapes = _hooked_shapes(model, torch.empty(2, 3, 224, 224, device="meta"))
    assert out.shape == (2, 1000)
    assert shapes["3a"] == shapes["3b"] == (28, 28)
    assert all(shapes[k] == (14, 14) for k in ("4a", "4b", "4c", "4d", "4e"))
    assert shapes["5a"] == shapes["5b"] == (7, 7)
    model.train()
    out = model(torch.empty(2, 3, 224, 224, device="meta"))
    assert isinstance(out, GoogLeNetOutputs) and all(o.shape == (2, 1000) for o in out)


def test_imagenet_stem_forward_at_64_px():
    torch.manual_seed(0)
    out = googlenet(num_classes=7).eval()(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 7) and torch.isfinite(out).all()


@pytest.mark.parametrize("size, maps, batch_norm", [(32, (16, 8, 4), True), (48, (24, 12, 6), False),
                                                  (64, (32, 16, 8), False)])
def test_small_stem_shapes_in_both_modes(size, maps, batch_norm):
    torch.manual_seed(0)
    model = googlenet(5, width=0.125, stem="small", batch_norm=batch_norm)
    assert isinstance(model.aux1.pool, nn.AdaptiveAvgPool2d)
    x = torch.randn(2, 3, size, size)
    out, shapes = _hooked_shapes(model.eval(), x)
    assert out.shape == (2, 5)
    assert (shapes["3a"][0], shapes["4a"][0], shapes["5b"][0]) == maps
    train_out = model.train()(x)
    assert isinstance(train_out, GoogLeNetOutputs)
    assert [o.shape for o in train_out] == [(2, 5)] * 3


def test_in_channels_and_odd_sizes():
    model = googlenet(3, aux_logits=False, width=0.125, stem="small", in_channels=1).eval()
    assert model(torch.randn(1, 1, 33, 35)).shape == (1, 3)


# ----------------------------------------------------------------------------- aux heads
def test_aux_heads_run_in_training_mode_only():
    torch.manual_seed(0)
    model = googlenet(4, width=0.125, stem="small")
    x = torch.randn(3, 3, 32, 32)
    assert isinstance(model.train()(x), GoogLeNetOutputs)
    eval_out = model.eval()(x)
    assert isinstance(eval_out, torch.Tensor) and eval_out.shape == (3, 4)
    no_aux = googlenet(4, aux_logits=False, width=0.125, stem="small")
    assert no_aux.aux1 is None and no_aux.aux2 is None
    train_out = no_aux.train()(x)
    assert isinstance(train_out, torch.Tensor) and not isinstance(train_out, tuple)


def test_eval_logits_do_not_depend_on_the_aux_heads():
    torch.manual_seed(0)
    with_aux = googlenet(6, width=0.125, stem="small").eval()
    without = googlenet(6, aux_logits=False, width=0.125, stem="small").eval()
    missing, unexpected = without.load_state_dict(with_aux.state_dict(), strict=False)
    assert not missing and unexpected and all(k.startswith(("aux1.", "aux2.")) for k in unexpected)
    x = torch.randn(2, 3, 40, 40)
    torch.testing.assert_close(with_aux(x), without(x), rtol=0, atol=0)


def test_aux_loss_reaches_the_lower_layers_only():
    torch.manual_seed(0)
    model = googlenet(4, width=0.125, stem="small", batch_norm=True).train()
    out = model(torch.randn(2, 3, 32, 32))
    F.cross_entropy(out.aux1, torch.tensor([0, 3])).backward(retain_graph=True)
    assert model.stem[0][0].weight.grad.abs().sum() > 0 and model.aux1.fc2.weight.grad is not None
    assert model.inception4b.branch1[0].weight.grad is None and model.fc.weight.grad is None
    loss = googlenet_loss(out, torch.tensor([0, 3]))  # the full loss trains every part
    loss.backward()
    assert torch.isfinite(loss) and model.fc.weight.grad.abs().sum() > 0
    assert model.inception4b.branch1[0].weight.grad.abs().sum() > 0 and model.aux2.fc2.weight.grad.abs().sum() > 0


def test_aux_head_5x5_pool_gives_4x4():
    head = InceptionAux(512, 10)
    assert head(torch.randn(2, 512, 14, 14)).shape == (2, 10)
    assert _params(head) == (512 * 128 + 128) + (2048 * 1024 + 1024) + (1024 * 10 + 10) == 2_174_090


# ----------------------------------------------------------------------------- loss
def test_googlenet_loss_weights_the_aux_losses_by_0_3():
    gen = torch.Generator().manual_seed(0)
    logits, aux1, aux2 = (torch.randn(5, 4, generator=gen) for _ in range(3))
    targets = torch.tensor([0, 1, 2, 3, 0])
    outputs = GoogLeNetOutputs(logits, aux1, aux2)
    main, a1, a2 = (F.cross_entropy(t, targets) for t in (logits, aux1, aux2))
    torch.testing.assert_close(googlenet_loss(outputs, targets), main + 0.3 * (a1 + a2))
    torch.testing.assert_close(googlenet_loss(outputs, targets, aux_weight=1), main + a1 + a2)
    torch.testing.assert_close(googlenet_loss(outputs, targets, aux_weight=0.0), main)
    torch.testing.assert_close(googlenet_loss(logits, targets), main)
    torch.testing.assert_close(googlenet_loss((logits, aux1, aux2), targets), main + 0.3 * (a1 + a2))
    soft = torch.softmax(torch.randn(5, 4, generator=gen), dim=1)
    torch.testing.assert_close(googlenet_loss(outputs, soft),
                               F.cross_entropy(logits, soft) + 0.3 * (F.cross_entropy(aux1, soft) + F.cross_entropy(aux2, soft)))


def test_googlenet_loss_golden_value():
    # uniform logits: cross-entropy = log(K) for each head -> log 4 * (1 + 0.3 * 2)
    zeros = torch.zeros(3, 4)
    loss = googlenet_loss(GoogLeNetOutputs(zeros, zeros, zeros), torch.tensor([0, 1, 2]))
    torch.testing.assert_close(loss, torch.tensor(1.6 * torch.log(torch.tensor(4.0)).item()))
    assert loss.shape == ()


# ----------------------------------------------------------------------------- invalid input
_T = torch.tensor([0, 1])
_L = torch.zeros(2, 3)


@pytest.mark.parametrize("call, error, match", [
    (lambda: GoogLeNet(0), ValueError, r"^num_classes: expected an int >= 1, got 0"),
    (lambda: GoogLeNet(10, aux_logits=1), TypeError, r"^aux_logits: expected a bool"),
    (lambda: GoogLeNet(width=0.0), ValueError, r"^width: expected a finite float > 0, got 0.0"),
    (lambda: GoogLeNet(width=float("nan")), ValueError, r"^width: expected a finite float > 0"),
    (lambda: GoogLeNet(width="1"), TypeError, r"^width: expected a positive float, got str"),
    (lambda: GoogLeNet(stem="tiny"), ValueError, r"^stem: expected one of 'imagenet', 'small', got 'tiny'"),
    (lambda: GoogLeNet(batch_norm="yes"), TypeError, r"^batch_norm: expected a bool"),
    (lambda: GoogLeNet(in_channels=0), ValueError, r"^in_channels: expected an int >= 1"),
    (lambda: GoogLeNet(dropout=1.0), ValueError, r"^dropout: expected a float in \[0, 1\), got 1.0"),
    (lambda: GoogLeNet(aux_dropout=-0.1), ValueError, r"^aux_dropout: expected a float in \[0, 1\)"),
    (lambda: Inception(192, 64, 96, 128, 16, 0, 32), ValueError, r"^ch5x5: expected an int >= 1, got 0"),
    (lambda: Inception(192.0, 64, 96, 128, 16, 32, 32), TypeError, r"^in_channels: expected an int"),
    (lambda: InceptionNaive(192, 64, -1, 32), ValueError, r"^ch3x3: expected an int >= 1"),
    (lambda: InceptionAux(512, 10, pool="7x7"), ValueError, r"^pool: expected one of '5x5/3', 'adaptive'"),
    (lambda: googlenet_loss([_L, _L], _T), TypeError, r"^outputs: expected Tensor\[N, K\] logits or GoogLeNetOutputs"),
    (lambda: googlenet_loss((_L, _L), _T), TypeError, r"^outputs: expected"),
    (lambda: googlenet_loss(torch.zeros(3), _T), ValueError, r"^outputs: expected floating-point Tensor\[N, K\]"),
    (lambda: googlenet_loss(torch.zeros(2, 3, dtype=torch.long), _T), ValueError, r"^outputs: expected floating-point"),
    (lambda: googlenet_loss((_L, _L, torch.zeros(2, 4)), _T), ValueError,
     r"^outputs.aux2: expected the shape of outputs.logits \[2, 3\], got \[2, 4\]"),
    (lambda: googlenet_loss(_L, [0, 1]), TypeError, r"^targets: expected a Tensor\[N\] of class indices, got list"),
    (lambda: googlenet_loss(_L, torch.tensor([True, False])), TypeError, r"^targets: expected a Tensor\[N\]"),
    (lambda: googlenet_loss(_L, torch.tensor([0, 1, 2])), ValueError, r"^targets: expected Tensor\[2\] class indices"),
    (lambda: googlenet_loss(_L, torch.tensor([0, 3])), ValueError, r"^targets: class indices must be in \[0, 3\), got values in \[0, 3\]"),
    (lambda: googlenet_loss(_L, torch.tensor([-1, 0])), ValueError, r"^targets: class indices must be in \[0, 3\)"),
    (lambda: googlenet_loss(_L, torch.zeros(2, 4)), ValueError, r"^targets: float targets are class probabilities, expected Tensor\[2, 3\]"),
    (lambda: googlenet_loss(_L, _T, aux_weight=-0.1), ValueError, r"^aux_weight: expected a finite float >= 0, got -0.1"),
    (lambda: googlenet_loss(_L, _T, aux_weight=float("nan")), ValueError, r"^aux_weight: expected a finite float >= 0"),
    (lambda: googlenet_loss(_L, _T, aux_weight=float("inf")), ValueError, r"^aux_weight: expected a finite float >= 0"),
    (lambda: googlenet_loss(_L, _T, aux_weight=True), TypeError, r"^aux_weight: expected a float >= 0, got bool"),
])
def test_invalid_arguments_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_imagenet_stem_aux_heads_need_224_px_inputs():
    model = googlenet(3, width=0.125).train()
    with pytest.raises(RuntimeError):
        model(torch.randn(2, 3, 64, 64))  # 4x4 maps at 4a: too small for the paper's 5x5 pool
