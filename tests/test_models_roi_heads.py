"""cvcourse.models.roi_heads: mask targets (ground-truth masks projected on the RoIs with RoIAlign)
by hand and against a loop reference, the mask loss on the ground-truth class only (values and
gradients), the Fast R-CNN loss against a loop, the training sample (ground truth as proposals,
quotas, the mask-head cap) and the post-processing (sorted, capped, per-class NMS, pasted masks)."""
import math

import torch
import torch.nn.functional as F

from cvcourse.models.roi_heads import (
    BoxHead,
    MaskHead,
    RoIHeads,
    fastrcnn_loss,
    maskrcnn_loss,
    project_masks_on_boxes,
)
from cvcourse.ops import box_iou


# ----------------------------------------------------------------------------- mask targets
def _bilinear(img, y, x):
    """torchvision's RoIAlign sample of a 2-D map at (y, x), zero more than one pixel outside."""
    h, w = img.shape
    if y < -1 or y > h or x < -1 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = min(int(y), h - 1), min(int(x), w - 1)
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    if y0 >= h - 1:
        y = float(y0)
    if x0 >= w - 1:
        x = float(x0)
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * img[y0, x0] + (1 - ly) * lx * img[y0, x1]
            + ly * (1 - lx) * img[y1, x0] + ly * lx * img[y1, x1]).item()


def _target_loop(mask, box, m, sr=2):
    """The M x M target by RoIAlign's definition (aligned=True: shift -0.5), one sample at a time."""
    x1, y1, x2, y2 = (v - 0.5 for v in box.tolist())
    bh, bw = (y2 - y1) / m, (x2 - x1) / m
    out = torch.zeros(m, m, dtype=torch.float64)
    img = mask.double()
    for i in range(m):
        for j in range(m):
            total = 0.0
            for a in range(sr):
                for b in range(sr):
                    total += _bilinear(img, y1 + (i + (a + 0.5) / sr) * bh, x1 + (j + (b + 0.5) / sr) * bw)
            out[i, j] = total / sr**2
    return out


def test_mask_targets_hand_worked():
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[2:6, 2:6] = True                                       # a 4 x 4 square, pixels 2..5
    boxes = torch.tensor([[2.0, 2, 6, 6], [0, 0, 8, 8], [4, 2, 8, 6]])
    t = project_masks_on_boxes(mask[None], boxes, torch.zeros(3, dtype=torch.int64), 2)
    # its own box: the samples (map coordinates 2.0, 3.0 | 4.0, 5.0) read pixel centres inside: ones
    assert torch.equal(t[0], torch.ones(2, 2))
    # the whole image: bin 0 samples rows 1 and 3 (one inside), so each bin is 1/2 * 1/2
    assert torch.equal(t[1], torch.full((2, 2), 0.25))
    # shifted right by 2 pixels: the left column of bins is inside, the right one outside
    assert torch.equal(t[2], torch.tensor([[1.0, 0.0], [1.0, 0.0]]))


def test_mask_targets_equal_a_loop_reference():
    g = torch.Generator().manual_seed(0)
    masks = torch.rand(3, 20, 24, generator=g) > 0.5
    xy = torch.rand(6, 2, generator=g) * 20 - 2
    boxes = torch.cat([xy, xy + 1 + torch.rand(6, 2, generator=g) * 12], dim=1)   # some cross the border
    idx = torch.tensor([0, 1, 2, 2, 1, 0])
    got = project_masks_on_boxes(masks, boxes, idx, 7)
    assert got.shape == (6, 7, 7) and got.dtype == torch.float32
    for k in range(6):
        torch.testing.assert_close(got[k].double(), _target_loop(masks[idx[k]], boxes[k], 7), atol=1e-5, rtol=0)


def test_mask_targets_of_no_box_are_empty():
    out = project_masks_on_boxes(torch.zeros(2, 8, 8, dtype=torch.bool), torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), 28)
    assert out.shape == (0, 28, 28)


# ----------------------------------------------------------------------------- losses
def test_mask_loss_uses_the_ground_truth_class_only():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 3, 6, 6, generator=g, requires_grad=True)
    targets = torch.rand(5, 6, 6, generator=g)
    labels = torch.tensor([2, 0, 1, 1, 0])
    loss = maskrcnn_loss(logits, targets, labels)
    reference = sum(F.binary_cross_entropy_with_logits(logits[p, labels[p]], targets[p]) for p in range(5)) / 5
    torch.testing.assert_close(loss, reference)
    loss.backward()
    chosen = torch.zeros(5, 3, dtype=torch.bool)
    chosen[torch.arange(5), labels] = True
    assert (logits.grad[~chosen] == 0).all() and (logits.grad[chosen] != 0).any()   # other classes: no gradient


def test_mask_loss_without_positives_is_zero_with_a_gradient():
    logits = torch.randn(0, 3, 28, 28, requires_grad=True)
    loss = maskrcnn_loss(logits, torch.zeros(0, 28, 28), torch.zeros(0, dtype=torch.long))
    assert loss.item() == 0.0 and loss.requires_grad


def test_fastrcnn_loss_equals_a_loop_reference():
    g = torch.Generator().manual_seed(0)
    logits, deltas = torch.randn(6, 4, generator=g), torch.randn(6, 16, generator=g)
    labels, targets = torch.tensor([0, 3, 1, 0, 2, 3]), torch.randn(6, 4, generator=g)
    cls, box = fastrcnn_loss(logits, deltas, labels, targets)
    torch.testing.assert_close(cls, F.cross_entropy(logits, labels))
    reference = 0.0
    for r in range(6):
        if labels[r] > 0:   # only positives, only the deltas of their own class
            c = int(labels[r])
            reference += F.smooth_l1_loss(deltas[r, 4 * c:4 * c + 4], targets[r], beta=1 / 9, reduction="sum")
    torch.testing.assert_close(box, reference / 6)


# ----------------------------------------------------------------------------- heads
def test_head_shapes():
    cls, deltas = BoxHead(8, 7, 3, hidden=16)(torch.randn(5, 8, 7, 7))
    assert cls.shape == (5, 4) and deltas.shape == (5, 16)
    assert MaskHead(8, 3, channels=4)(torch.randn(5, 8, 14, 14)).shape == (5, 3, 28, 28)
    assert MaskHead(8, 3, channels=4, num_convs=0)(torch.randn(2, 8, 14, 14)).shape == (2, 3, 28, 28)


def _heads(**kwargs):
    torch.manual_seed(0)
    kwargs.setdefault("box_hidden", 16)
    kwargs.setdefault("mask_channels", 4)
    return RoIHeads(8, 4, 3, batch_size_per_image=16, **kwargs)


def _targets():
    boxes = [torch.tensor([[2.0, 2, 14, 12], [16, 16, 30, 28]]), torch.zeros(0, 4), torch.tensor([[4.0, 18, 12, 30]])]
    labels = [torch.tensor([2, 0]), torch.zeros(0, dtype=torch.long), torch.tensor([1])]
    out = []
    for b, lab in zip(boxes, labels, strict=True):
        masks = torch.zeros(len(b), 32, 32, dtype=torch.bool)
        for k, (x1, y1, x2, y2) in enumerate(b.long().tolist()):
            masks[k, y1:y2, x1:x2] = True
        out.append({"boxes": b, "labels": lab, "masks": masks})
    return out


def test_training_sample_adds_the_ground_truth_and_keeps_the_quotas():
    heads = _heads(positive_fraction=0.5, mask_batch_size_per_image=1)
    g = torch.Generator().manual_seed(0)
    proposals = [torch.cat([xy := torch.rand(30, 2, generator=g) * 24, xy + 4 + torch.rand(30, 2, generator=g) * 8], 1)
                 for _ in range(3)]
    targets = _targets()
    rois, labels, regression, mask_rois, mask_gt = heads.sample(proposals, targets)
    gt = torch.cat([t["boxes"] for t in targets])
    gt_labels = torch.cat([t["labels"] for t in targets])
    for i in range(3):
        mine = rois[:, 0] == i
        assert mine.sum() <= 16 and (labels[mine] > 0).sum() <= 8
        if i == 1:
            assert (labels[mine] == 0).all()                    # no objects: background only
    pos = labels > 0
    # every positive overlaps its ground truth with IoU >= 0.5; the ground truth itself has deltas 0
    iou = box_iou(rois[pos, 1:], gt).max(1).values
    assert (iou >= 0.5).all()
    exact = (box_iou(rois[pos, 1:], gt) == 1).any(1)
    assert exact.any() and (regression[pos][exact].abs() < 1e-5).all()
    assert (regression[~pos] == 0).all()
    # the mask head gets at most one positive per image, each with its own ground truth and class
    assert len(mask_rois) <= 2 and len(set(mask_rois[:, 0].tolist())) == len(mask_rois)
    assert (box_iou(mask_rois[:, 1:], gt)[torch.arange(len(mask_gt)), mask_gt] >= 0.5).all()
    assert set(gt_labels[mask_gt].tolist()) <= {0, 1, 2}


def test_training_losses_and_inference_outputs():
    heads = _heads(detections_per_img=5)
    features = torch.randn(3, 8, 8, 8, requires_grad=True)
    proposals = [t["boxes"] + 0.5 for t in _targets()]
    proposals[1] = torch.tensor([[0.0, 0, 10, 10]])
    _, losses = heads.train()(features, proposals, (32, 32), _targets())
    assert sorted(losses) == ["loss_box_reg", "loss_classifier", "loss_mask"]
    assert all(math.isfinite(v.item()) for v in losses.values())
    sum(losses.values()).backward()
    assert torch.isfinite(features.grad).all() and features.grad.abs().sum() > 0
    heads.eval()
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        many = [torch.cat([xy := torch.rand(40, 2, generator=g) * 24, xy + 4 + torch.rand(40, 2, generator=g) * 8], 1),
                torch.zeros(0, 4), torch.tensor([[1.0, 1, 9, 9]])]
        detections, losses = heads(features, many, (32, 32))
    assert losses == {} and len(detections) == 3
    for d in detections:
        n = len(d["boxes"])
        assert n <= 5 and d["boxes"].shape == (n, 4) and d["labels"].dtype == torch.int64
        assert d["masks"].shape == (n, 1, 32, 32) and ((d["masks"] >= 0) & (d["masks"] <= 1)).all()
        assert (d["scores"][:-1] >= d["scores"][1:]).all() and (d["scores"] > 0.05).all()
        assert ((d["labels"] >= 0) & (d["labels"] < 3)).all()
        for c in range(3):                                     # NMS per class
            same = d["labels"] == c
            assert (box_iou(d["boxes"][same], d["boxes"][same]).fill_diagonal_(0) <= 0.5 + 1e-6).all()
    assert len(detections[1]["boxes"]) == 0
