"""cvcourse.models.rpn: the balanced sampler (quotas, never an ignored anchor, seeded), batched
matching against a per-image loop of match_anchors, the head's output order against the anchors'
"rcnn" order, the RPN losses against a loop reference with the same samples, and the proposals
(clipped, detached, at most post_nms_top_n, no pair above the NMS threshold)."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse.anchors import encode_boxes, match_anchors
from cvcourse.models.rpn import RegionProposalNetwork, RPNHead, balanced_sample, match_per_image
from cvcourse.ops import box_iou


def _matches(pos, neg, ignored, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = torch.cat([torch.randint(0, 3, (pos,), generator=g), torch.full((neg,), -1), torch.full((ignored,), -2)])
    return m[torch.randperm(len(m), generator=g)]


# ----------------------------------------------------------------------------- balanced_sample
@pytest.mark.parametrize("pos, neg, size, fraction, want_pos, want_neg", [
    (10, 20, 8, 0.5, 4, 4),      # both quotas filled
    (2, 20, 8, 0.5, 2, 6),       # few positives: negatives fill the sample
    (0, 20, 8, 0.5, 0, 8),       # an image without objects: negatives only
    (10, 3, 8, 0.5, 4, 3),       # few negatives: the sample is smaller
    (10, 20, 8, 0.25, 2, 6),     # int(8 * 0.25) = 2 positives at most
    (10, 20, 7, 0.5, 3, 4),      # int(7 * 0.5) = 3
    (0, 0, 8, 0.5, 0, 0),        # nothing to draw
])
def test_balanced_sample_quotas(pos, neg, size, fraction, want_pos, want_neg):
    m = _matches(pos, neg, ignored=5)
    p, q = balanced_sample(m, size, fraction)
    assert (len(p), len(q)) == (want_pos, want_neg)
    assert (m[p] >= 0).all() and (m[q] == -1).all()             # never an ignored (-2) anchor
    assert len(set(p.tolist())) == len(p) and len(set(q.tolist())) == len(q)   # no repeats
    assert p.dtype == q.dtype == torch.int64


def test_balanced_sample_is_seeded_and_uniform():
    m = _matches(6, 30, 4)
    a = balanced_sample(m, 8, 0.25, generator=torch.Generator().manual_seed(3))
    b = balanced_sample(m, 8, 0.25, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    # every positive is drawn about equally often: 2 of 6 per draw, 3000 draws -> 1000 each
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(len(m))
    for _ in range(3000):
        counts[balanced_sample(m, 8, 0.25, generator=g)[0]] += 1
    positives = counts[m >= 0]
    assert positives.min() > 850 and positives.max() < 1150


@pytest.mark.parametrize("args, error, match", [
    ((torch.zeros(4), 8, 0.5), ValueError, "matches: expected an integer Tensor"),
    ((torch.zeros(2, 2, dtype=torch.long), 8, 0.5), ValueError, "matches: expected an integer Tensor"),
    ((torch.zeros(4, dtype=torch.long), 0, 0.5), ValueError, "batch_size_per_image"),
    ((torch.zeros(4, dtype=torch.long), 8, 1.5), ValueError, "positive_fraction"),
])
def test_balanced_sample_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        balanced_sample(*args)


# ----------------------------------------------------------------------------- match_per_image
def _random_boxes(g, n, size=64.0, lo=2.0, hi=30.0):
    xy = torch.rand(n, 2, generator=g) * size
    return torch.cat([xy, xy + lo + torch.rand(n, 2, generator=g) * (hi - lo)], dim=1)


@settings(deadline=None, max_examples=25)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 4)), min_size=1, max_size=4), st.integers(0, 10**6),
       st.booleans())
def test_match_per_image_equals_a_loop_of_match_anchors(sizes, seed, low_quality):
    g = torch.Generator().manual_seed(seed)
    boxes = [_random_boxes(g, n) for n, _ in sizes]
    gts = [_random_boxes(g, k) for _, k in sizes]
    got = match_per_image(boxes, gts, 0.5, 0.3, low_quality)
    expected, offset = [], 0
    for b, gt in zip(boxes, gts, strict=True):
        m = match_anchors(b, gt, 0.5, 0.3, low_quality)
        expected.append(torch.where(m >= 0, m + offset, m))     # indices into torch.cat(gts)
        offset += len(gt)
    assert torch.equal(got, torch.cat(expected))


def test_match_per_image_hand_worked():
    anchors = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    gt = [torch.tensor([[0.0, 0, 10, 10]]), torch.zeros(0, 4), torch.tensor([[20.0, 20, 30, 30], [0, 0, 9, 10]])]
    got = match_per_image([anchors] * 3, gt, 0.7, 0.3)
    # image 0: anchor 0 is its GT 0, anchor 1 negative; image 1: no GT; image 2: anchor 0 has IoU 0.9
    # with GT index 2 (its second), anchor 1 is GT index 1 (its first)
    assert got.tolist() == [0, -1, -1, -1, 2, 1]
    with pytest.raises(ValueError, match="one tensor per image"):
        match_per_image([anchors], gt, 0.7, 0.3)


# ----------------------------------------------------------------------------- the head and the losses
def test_rpn_head_output_order_is_the_anchors_rcnn_order():
    # biases only: objectness channel a outputs a, delta channel 4a + j outputs 4a + j; in the rcnn
    # order, entry (y * W + x) * A + a holds anchor a of cell (x, y)
    a_n, h, w = 3, 2, 5
    head = RPNHead(4, a_n)
    for conv in (head.objectness, head.deltas):
        torch.nn.init.zeros_(conv.weight)
        conv.bias.data = torch.arange(conv.out_channels, dtype=torch.float32)
    logits, deltas = head(torch.randn(2, 4, h, w))
    assert logits.shape == (2, h * w * a_n) and deltas.shape == (2, h * w * a_n, 4)
    assert torch.equal(logits[1], torch.arange(a_n, dtype=torch.float32).repeat(h * w))
    assert torch.equal(deltas[0], torch.arange(4 * a_n, dtype=torch.float32).view(a_n, 4).repeat(h * w, 1))


def _rpn(**kwargs):
    torch.manual_seed(0)
    kwargs.setdefault("pre_nms_top_n", (60, 40))
    kwargs.setdefault("post_nms_top_n", (20, 10))
    kwargs.setdefault("batch_size_per_image", 32)
    return RegionProposalNetwork(8, 4, (8.0, 16.0), (0.5, 1.0, 2.0), **kwargs)


def test_rpn_losses_equal_a_loop_reference():
    rpn = _rpn().train()
    g = torch.Generator().manual_seed(1)
    features = torch.randn(3, 8, 8, 8, generator=g)
    gt = [torch.tensor([[4.0, 4, 20, 18], [16, 10, 30, 30]]), torch.zeros(0, 4), torch.tensor([[1.0, 20, 12, 31]])]
    torch.manual_seed(7)
    _, losses = rpn(features, (32, 32), [{"boxes": b} for b in gt])
    # the reference draws the same samples (same RNG, same order of draws) and sums term by term
    logits, deltas = rpn.head(features)
    anchors = rpn.anchors((8, 8), features.device)
    torch.manual_seed(7)
    bce, l1, count = 0.0, 0.0, 0
    for i, boxes in enumerate(gt):
        m = match_anchors(anchors, boxes, 0.7, 0.3)
        pos, neg = balanced_sample(m, 32, 0.5)
        for j in pos.tolist():
            bce += F.binary_cross_entropy_with_logits(logits[i, j], torch.tensor(1.0)).item()
            target = encode_boxes(boxes[m[j]][None], anchors[j][None])[0]
            l1 += F.smooth_l1_loss(deltas[i, j], target, beta=1 / 9, reduction="sum").item()
        for j in neg.tolist():
            bce += F.binary_cross_entropy_with_logits(logits[i, j], torch.tensor(0.0)).item()
        count += len(pos) + len(neg)
    assert losses["loss_objectness"].item() == pytest.approx(bce / count, rel=1e-5)
    assert losses["loss_rpn_box_reg"].item() == pytest.approx(l1 / count, rel=1e-5)
    assert losses["loss_rpn_box_reg"].item() > 0


def test_rpn_proposals_are_clipped_detached_few_and_suppressed():
    rpn = _rpn()
    features = torch.randn(2, 8, 8, 8, requires_grad=True)
    for mode, n in ((True, 20), (False, 10)):
        rpn.train(mode)
        targets = [{"boxes": torch.tensor([[4.0, 4, 20, 18]])}] * 2 if mode else None
        proposals, losses = rpn(features, (32, 32), targets)
        assert len(proposals) == 2 and bool(losses) == mode
        for p in proposals:
            assert 0 < len(p) <= n and not p.requires_grad
            assert (p >= 0).all() and (p <= 32).all() and (p[:, 2:] > p[:, :2]).all()
            iou = box_iou(p, p).fill_diagonal_(0)
            assert (iou <= 0.7 + 1e-6).all()


def test_rpn_bad_arguments():
    with pytest.raises(ValueError, match="stride"):
        RegionProposalNetwork(8, 0, (8.0,))
    with pytest.raises(ValueError, match="scales"):
        RegionProposalNetwork(8, 4, (-8.0,))
    with pytest.raises(ValueError, match="nms_thresh"):
        RegionProposalNetwork(8, 4, (8.0,), nms_thresh=2.0)
