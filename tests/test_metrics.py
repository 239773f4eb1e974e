"""cvcourse.metrics: mean average precision against pycocotools' COCOeval on random scenes (boxes, and
instance masks of the synthetic shapes data set), against a slow loop port of the PASCAL VOC devkit,
hand-worked precision/recall tables, empty inputs and every bad input."""
import contextlib
import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from cvcourse.data.shapes import ShapesDataset
from cvcourse.metrics import mean_average_precision, precision_recall_curve
from cvcourse.metrics.detection import COCO_IOU_THRESHOLDS
from cvcourse.ops import box_iou, masks_to_boxes

COCO_KEYS = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large",
             "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large"]  # COCOeval.stats order
PROPERTY = settings(max_examples=15, deadline=None)


def T(values, dtype=torch.float64):
    return torch.tensor(values, dtype=dtype)


def image(boxes=(), scores=None, labels=None, **extra):
    """One image's dict; labels default to class 0, boxes to none."""
    boxes = T(boxes).reshape(-1, 4)
    out = {"boxes": boxes, "labels": torch.zeros(len(boxes), dtype=torch.long) if labels is None else T(labels, torch.long)}
    if scores is not None:
        out["scores"] = T(scores)
    return out | {k: torch.tensor(v) for k, v in extra.items()}


# ----------------------------------------------------------------------------- random scenes
def random_scene(seed, n_images=6, n_classes=3, *, integer=False, crowd=0.1, area=False, ties=False, crowded=False):
    """Ground truth of every size (4 to 300 pixels), detections jittered from it (missed, duplicated,
    wrong class), false positives, crowd GTs, images without GT or without detections."""
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(n_images):
        m = int(rng.integers(0, 9))
        wh = np.exp(rng.uniform(np.log(4), np.log(300), (m, 2)))
        xy = rng.uniform(0, 500, (m, 2))
        gt = np.concatenate([xy, xy + wh], 1)
        labels = rng.integers(0, n_classes, m)
        boxes, det_labels = [], []
        for j in range(m):
            for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
                w, h = wh[j]
                jitter = rng.normal(0, rng.choice([0.03, 0.1, 0.25]), 4) * [w, h, w, h]
                boxes.append(gt[j] + jitter)
                det_labels.append(labels[j] if rng.random() > 0.1 else rng.integers(0, n_classes))
        n_fp = int(rng.integers(0, 5)) + (15 if crowded and rng.random() < 0.5 else 0)
        for _ in range(n_fp):  # false positives anywhere (crowded: more than 10 per image)
            x, y = rng.uniform(0, 500, 2)
            w, h = np.exp(rng.uniform(np.log(3), np.log(200), 2))
            boxes.append([x, y, x + w, y + h])
            det_labels.append(rng.integers(0, n_classes))
        boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
        boxes = np.concatenate([np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], 1)
        if integer:
            boxes, gt = np.round(boxes), np.round(gt)
        scores = rng.random(len(boxes))
        if ties:
            scores = np.round(scores * 4) / 4
        target = {"boxes": T(gt).reshape(-1, 4), "labels": T(labels, torch.long),
                  "iscrowd": T(rng.random(m) < crowd, torch.bool)}
        if area:
            target["area"] = T(rng.uniform(0.5, 1.5, m) * wh.prod(1))
        preds.append({"boxes": T(boxes), "scores": T(scores), "labels": T(det_labels, torch.long)})
        targets.append(target)
    return preds, targets


def coco_regions(d, iou_type):
    """COCO's region field and area of each object of one image's dict: {"bbox": xywh} or, for masks,
    {"segmentation": RLE} (no "bbox": loadRes would then take the box area for a detection's area)."""
    if iou_type == "bbox":
        b = d["boxes"]
        return [{"bbox": [x1, y1, x2 - x1, y2 - y1]} for x1, y1, x2, y2 in b.tolist()], (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    rles = [mask_utils.encode(np.asfortranarray(m.numpy().astype(np.uint8))) for m in d["masks"]]
    return [{"segmentation": r} for r in rles], d["masks"].flatten(1).sum(1)


def cocoeval(preds, targets, iou_type="bbox", **params):
    """COCOeval on the same scene (boxes as COCO's xywh or masks as RLE, ids from 1): its stats, precision
    and recall arrays."""
    classes = sorted({int(c) for d in preds + targets for c in d["labels"]})
    images = [{"id": i + 1} | ({"height": t["masks"].shape[1], "width": t["masks"].shape[2]} if "masks" in t else {})
              for i, t in enumerate(targets)]
    anns = []
    for i, t in enumerate(targets):
        regions, area = coco_regions(t, iou_type)
        area = t.get("area", area)
        crowd = t.get("iscrowd", torch.zeros(len(regions)))
        for region, label, a, c in zip(regions, t["labels"].tolist(), area.tolist(), crowd.tolist(), strict=True):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": label, "area": a, "iscrowd": int(c)} | region)
    dets = [{"image_id": i + 1, "category_id": label, "score": score} | region
            for i, p in enumerate(preds)
            for region, score, label in zip(coco_regions(p, iou_type)[0], p["scores"].tolist(), p["labels"].tolist(),
                                            strict=True)]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": c} for c in classes]}
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, iou_type)
        for key, value in params.items():
            setattr(ev.params, key, value)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats, ev.eval["precision"], ev.eval["recall"]


def coco_per_class(precision, recall, max_det=-1):
    """COCOeval's per-class AP and AR (area "all", the largest budget), -1 for classes without GT."""
    def mean(x):
        return float(x[x > -1].mean()) if (x > -1).any() else -1.0
    k = precision.shape[2]
    return ([mean(precision[:, :, c, 0, max_det]) for c in range(k)], [mean(recall[:, c, 0, max_det]) for c in range(k)])


SCENES = ([dict(seed=s) for s in range(6)]
          + [dict(seed=100 + s, area=True) for s in range(4)]
          + [dict(seed=200 + s, ties=True, crowd=0.2) for s in range(4)]
          + [dict(seed=300 + s, crowded=True, n_images=4) for s in range(4)]
          # integer boxes: exact IoU ties (no crowd: see `_crowd_overlap` on its last bit)
          + [dict(seed=400 + s, integer=True, crowd=0.0, ties=True) for s in range(4)]
          + [dict(seed=500 + s, n_classes=1, n_images=12) for s in range(2)]
          + [dict(seed=600 + s, n_classes=6, n_images=3) for s in range(2)])


@pytest.mark.parametrize("scene", SCENES, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_equals_cocoeval_on_random_scenes(scene):
    preds, targets = random_scene(**scene)
    ours = mean_average_precision(preds, targets)
    stats, precision, recall = cocoeval(preds, targets)
    got = np.array([ours[k].item() for k in COCO_KEYS])
    np.testing.assert_allclose(got, stats, atol=1e-6, rtol=0, err_msg=str(list(zip(COCO_KEYS, got, stats, strict=True))))
    ap, ar = coco_per_class(precision, recall)
    np.testing.assert_allclose(ours["map_per_class"].numpy(), ap, atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours["mar_100_per_class"].numpy(), ar, atol=1e-6, rtol=0)


@pytest.mark.parametrize("thresholds, max_dets", [((0.3, 0.5, 0.9), 100), ((0.5, 0.75, 1.0), 20), ((0.1,), 10)])
def test_equals_cocoeval_with_other_thresholds_and_budgets(thresholds, max_dets):
    preds, targets = random_scene(7, crowded=True, crowd=0.15)
    ours = mean_average_precision(preds, targets, iou_thresholds=list(thresholds), max_dets=max_dets)
    stats, precision, _ = cocoeval(preds, targets, iouThrs=np.array(thresholds), maxDets=[1, 10, max_dets])
    # COCOeval.summarize computes stats[0] at maxDets=100 whatever maxDets holds (-1 without 100):
    # the AP at the largest budget is read from its precision array instead
    stats[0] = precision[..., 0, -1][precision[..., 0, -1] > -1].mean()
    keys = [k.replace("mar_100", f"mar_{max_dets}") for k in COCO_KEYS]
    np.testing.assert_allclose([ours[k].item() for k in keys], stats, atol=1e-6, rtol=0)


# ----------------------------------------------------------------------------- hand-worked cases
# One image, two GTs of class 0, four detections:
#   d1 (0.9) on A, IoU 1        -> TP      precision 1/1, recall 1/2
#   d2 (0.8) on A, IoU 90/100   -> FP (duplicate: A is taken)   1/2, 1/2
#   d3 (0.7) on B, IoU 60/100   -> TP      2/3, 2/2
#   d4 (0.6) nowhere            -> FP      2/4, 2/2
GT2 = [image([[0, 0, 10, 10], [20, 0, 30, 10]])]
DET4 = [image([[0, 0, 10, 10], [0, 0, 10, 9], [20, 0, 30, 6], [50, 50, 60, 60]], [0.9, 0.8, 0.7, 0.6])]


def test_precision_recall_table_worked_by_hand():
    precision, recall, scores = precision_recall_curve(DET4, GT2, 0)
    torch.testing.assert_close(precision, torch.tensor([1, 1 / 2, 2 / 3, 2 / 4]))
    torch.testing.assert_close(recall, torch.tensor([0.5, 0.5, 1.0, 1.0]))
    torch.testing.assert_close(scores, torch.tensor([0.9, 0.8, 0.7, 0.6]))
    # at IoU 0.7, d3 (IoU 0.6) misses B too
    precision, recall, _ = precision_recall_curve(DET4, GT2, 0, 0.7, style="voc")
    torch.testing.assert_close(precision, torch.tensor([1, 1 / 2, 1 / 3, 1 / 4]))
    torch.testing.assert_close(recall, torch.tensor([0.5, 0.5, 0.5, 0.5]))


def test_voc_ap_worked_by_hand():
    # envelope of precision: 1 up to recall 1/2, then 2/3 up to recall 1
    voc = mean_average_precision(DET4, GT2, style="voc")
    assert voc["map"].item() == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert voc["mar"].item() == 1.0
    # 11-point: max precision at recall >= 0, 0.1, ..., 0.5 is 1 (6 levels), at 0.6 ... 1.0 it is 2/3 (5)
    voc11 = mean_average_precision(DET4, GT2, style="voc", voc_11_point=True)
    assert voc11["map"].item() == pytest.approx((6 + 5 * 2 / 3) / 11)
    # at IoU 0.7 only A is found: all-point AP = 1/2 * 1, recall 1/2
    strict = mean_average_precision(DET4, GT2, style="voc", iou_thresholds=[0.7])
    assert (strict["map"].item(), strict["mar"].item()) == (pytest.approx(0.5), 0.5)


def test_coco_ap_worked_by_hand():
    out = mean_average_precision(DET4, GT2)
    # IoU 0.50, 0.55, 0.60: the VOC table; 101 recall levels: 0 ... 0.50 read 1 (51), 0.51 ... 1 read 2/3 (50)
    ap_low = (51 + 50 * 2 / 3) / 101
    # IoU 0.65 ... 0.90 (6 thresholds): only A is found: 51 levels at 1, the rest 0; IoU 0.95: the same (d1 is exact)
    ap_high = 51 / 101
    assert out["map_50"].item() == pytest.approx(ap_low)
    assert out["map_75"].item() == pytest.approx(ap_high)
    assert out["map"].item() == pytest.approx((3 * ap_low + 7 * ap_high) / 10)
    assert out["mar_1"].item() == pytest.approx(0.5)                    # one detection: one GT at most
    assert out["mar_100"].item() == pytest.approx((3 * 1.0 + 7 * 0.5) / 10)
    assert out["map_small"].item() == pytest.approx(out["map"].item())  # both GTs are 100 px^2: small
    assert out["map_medium"].item() == out["map_large"].item() == -1.0


def test_a_perfect_detector_scores_one():
    preds, targets = random_scene(3, crowd=0.0)
    perfect = [{"boxes": t["boxes"], "scores": torch.linspace(1, 0.5, len(t["boxes"]), dtype=torch.float64),
                "labels": t["labels"]} for t in targets]
    out = mean_average_precision(perfect, targets)
    for key in COCO_KEYS + ["map_per_class", "mar_100_per_class"]:
        if key != "mar_1":  # with several GTs of a class in an image, one detection finds only one
            assert ((out[key] == 1) | (out[key] == -1)).all(), key
    assert out["map"].item() == 1.0
    voc = mean_average_precision(perfect, targets, style="voc")
    assert voc["map"].item() == voc["mar"].item() == 1.0


def test_coco_greedy_matching_takes_the_second_best_gt_and_voc_does_not():
    # d1 takes A (IoU 1); d2's best GT is A too (IoU 9/11) but B also overlaps it (7/13 >= 0.5)
    targets = [image([[0, 0, 10, 10], [0, 4, 10, 14]])]
    preds = [image([[0, 0, 10, 10], [0, 1, 10, 11]], [0.9, 0.8])]
    torch.testing.assert_close(box_iou(preds[0]["boxes"], targets[0]["boxes"]), T([[1.0, 6 / 14], [9 / 11, 7 / 13]]))
    # COCO at 0.5: d2 takes B (7/13 >= 0.5): recall 1; VOC: d2 is assigned A (its best), a duplicate
    assert mean_average_precision(preds, targets, iou_thresholds=[0.5])["mar_100"].item() == 1.0
    assert mean_average_precision(preds, targets, style="voc")["mar"].item() == 0.5


def test_crowd_regions_absorb_any_number_of_detections():
    # a crowd region and one person; three detections inside the crowd are ignored, not FPs
    targets = [image([[0, 0, 100, 100], [200, 0, 220, 40]], iscrowd=[True, False])]
    preds = [image([[0, 0, 20, 40], [30, 0, 50, 40], [60, 50, 80, 90], [200, 0, 220, 40]], [0.9, 0.9, 0.9, 0.5])]
    out = mean_average_precision(preds, targets)
    assert out["map"].item() == 1.0 and out["mar_100"].item() == 1.0
    precision, recall, scores = precision_recall_curve(preds, targets, 0)   # the ignored ones are left out
    assert (precision.tolist(), recall.tolist(), scores.tolist()) == ([1.0], [1.0], [0.5])
    # the same detections without the crowd flag: three FPs (and no GT matches at IoU >= 0.5)
    plain = mean_average_precision(preds, [image([[200, 0, 220, 40]])])
    assert plain["map"].item() < 1.0


def test_voc_ignores_difficult_gts():
    targets = [image([[0, 0, 10, 10], [20, 0, 30, 10]], difficult=[False, True])]
    preds = [image([[20, 0, 30, 10], [0, 0, 10, 10]], [0.9, 0.8])]   # the best detection is on the difficult GT
    out = mean_average_precision(preds, targets, style="voc")
    assert out["map"].item() == 1.0 and out["mar"].item() == 1.0
    precision, recall, scores = precision_recall_curve(preds, targets, 0, style="voc")
    assert (precision.tolist(), recall.tolist(), scores.tolist()) == ([1.0], [1.0], [pytest.approx(0.8)])
    # COCO has no difficult flag: here it makes the GT an ignored one, as an out-of-range GT is
    assert mean_average_precision(preds, targets)["map"].item() == 1.0


def test_area_key_picks_the_area_range():
    targets = [image([[0, 0, 10, 10]])]
    preds = [image([[0, 0, 10, 10]], [0.9])]
    assert mean_average_precision(preds, targets)["map_small"].item() == 1.0
    big = [targets[0] | {"area": T([50.0**2])}]   # a 10x10 box said to cover 2500 px^2 (a mask, say)
    out = mean_average_precision(preds, big)
    assert out["map_small"].item() == -1.0 and out["map_medium"].item() == 1.0


def test_budgets_count_per_image_and_class():
    # 12 detections of class 0 in one image, the GT's match scored lowest: it is the 12th
    boxes = [[100 + 10 * k, 0, 105 + 10 * k, 5] for k in range(11)] + [[0, 0, 10, 10]]
    preds = [image(boxes, np.linspace(0.9, 0.5, 12).tolist())]
    targets = [image([[0, 0, 10, 10]])]
    out = mean_average_precision(preds, targets)
    assert (out["mar_1"].item(), out["mar_10"].item(), out["mar_100"].item()) == (0.0, 0.0, 1.0)
    assert mean_average_precision(preds, targets, max_dets=11)["map"].item() == 0.0
    # a detection of another class does not use up class 0's budget
    other = [image(boxes[:9] + [[0, 0, 10, 10]], [0.9] * 9 + [0.1], labels=[1] * 9 + [0])]
    assert mean_average_precision(other, targets)["mar_1"].item() == 1.0


def test_score_ties_keep_the_input_order():
    # two detections tied at 0.5 on one GT: the first listed is the TP, the second a duplicate
    targets = [image([[0, 0, 10, 10]])]
    preds = [image([[0, 0, 10, 10], [0, 0, 10, 8]], [0.5, 0.5])]
    assert precision_recall_curve(preds, targets, 0)[0].tolist() == [1.0, 0.5]
    swapped = [image([[0, 0, 10, 8], [0, 0, 10, 10]], [0.5, 0.5])]
    _, recall, _ = precision_recall_curve(swapped, targets, 0, 0.9)   # 0.8 IoU first: FP at 0.9
    assert recall.tolist() == [0.0, 1.0]


def test_classes_without_gt_are_left_out_of_the_mean():
    targets = [image([[0, 0, 10, 10]])]
    preds = [image([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.8], labels=[0, 7])]
    out = mean_average_precision(preds, targets)
    assert out["classes"].tolist() == [0, 7]
    assert out["map_per_class"].tolist() == [1.0, -1.0]
    assert out["map"].item() == 1.0
    voc = mean_average_precision(preds, targets, style="voc")
    assert voc["map_per_class"].tolist() == [1.0, -1.0] and voc["map"].item() == 1.0


# ----------------------------------------------------------------------------- empty inputs
@pytest.mark.parametrize("style", ["coco", "voc"])
def test_empty_inputs_give_minus_one_never_nan(style):
    for preds, targets in [([], []), ([image(scores=[])], [image()]),
                           ([image([[0, 0, 5, 5]], [0.3])], [image()])]:
        out = mean_average_precision(preds, targets, style=style)
        for key, value in out.items():
            assert not value.isnan().any(), key
            if key != "classes":
                assert (value == -1).all(), key


@pytest.mark.parametrize("style", ["coco", "voc"])
def test_gt_without_detections_gives_zero(style):
    out = mean_average_precision([image(scores=[])], [image([[0, 0, 50, 50]])], style=style)
    assert out["map"].item() == 0.0
    assert out["classes"].tolist() == [0]
    precision, recall, scores = precision_recall_curve([image(scores=[])], [image([[0, 0, 50, 50]])], 0, style=style)
    assert precision.shape == recall.shape == scores.shape == (0,) and precision.dtype == torch.float32


def test_result_keys_and_dtypes():
    preds, targets = random_scene(1)
    out = mean_average_precision(preds, targets, max_dets=50)
    assert list(out) == [k.replace("100", "50") for k in COCO_KEYS] + ["map_per_class", "mar_50_per_class", "classes"]
    assert all(v.dtype == torch.float32 for k, v in out.items() if k != "classes")
    assert out["classes"].dtype == torch.int64
    assert set(mean_average_precision(preds, targets, class_metrics=False)) == set(COCO_KEYS) | {"classes"}
    assert list(mean_average_precision(preds, targets, style="voc")) == ["map", "mar", "map_per_class",
                                                                         "mar_per_class", "classes"]
    custom = mean_average_precision(preds, targets, iou_thresholds=[0.6, 0.7])
    assert custom["map_50"].item() == custom["map_75"].item() == -1.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.float16])
def test_box_and_score_dtypes_give_the_same_result(dtype):
    preds, targets = random_scene(5, n_images=3, integer=True, crowd=0.1)
    want = mean_average_precision(preds, targets)
    cast = [p | {"boxes": p["boxes"].to(dtype)} for p in preds], [t | {"boxes": t["boxes"].to(dtype)} for t in targets]
    got = mean_average_precision(*cast)
    for key in want:
        torch.testing.assert_close(got[key], want[key], atol=1e-6, rtol=0)
    scores32 = [p | {"scores": p["scores"].float(), "labels": p["labels"].int()} for p in preds]
    torch.testing.assert_close(mean_average_precision(scores32, targets)["map"], want["map"])


# ----------------------------------------------------------------------------- the VOC devkit, as a loop
def voc_devkit_loop(preds, targets, class_id, iou_threshold=0.5, eleven_point=False):
    """VOCevaldet.m line by line: one detection at a time in global score order (stable)."""
    gts = {i: [(b, bool(d)) for b, c, d in zip(t["boxes"].tolist(), t["labels"].tolist(),
                                                  t.get("difficult", torch.zeros(len(t["boxes"]))).tolist(), strict=True)
                if c == class_id] for i, t in enumerate(targets)}
    taken = {i: [False] * len(g) for i, g in gts.items()}
    npos = sum(not d for g in gts.values() for _, d in g)
    dets = [(s, i, b) for i, p in enumerate(preds)
            for b, s, c in zip(p["boxes"].tolist(), p["scores"].tolist(), p["labels"].tolist(), strict=True) if c == class_id]
    dets.sort(key=lambda d: -d[0])
    tp, fp = [], []
    for _, i, b in dets:
        ovmax, jmax = -math.inf, -1
        for j, (g, _) in enumerate(gts[i]):
            iw, ih = min(b[2], g[2]) - max(b[0], g[0]), min(b[3], g[3]) - max(b[1], g[1])
            if iw > 0 and ih > 0:
                inter = iw * ih
                ov = inter / ((b[2] - b[0]) * (b[3] - b[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter)
                if ov > ovmax:
                    ovmax, jmax = ov, j
        if ovmax >= iou_threshold:
            if not gts[i][jmax][1]:
                if not taken[i][jmax]:
                    tp.append(1), fp.append(0)
                    taken[i][jmax] = True
                else:
                    tp.append(0), fp.append(1)
        else:
            tp.append(0), fp.append(1)
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec = tp / npos
    prec = tp / np.maximum(tp + fp, 1)
    if eleven_point:
        return sum(max(prec[rec >= t / 10], default=0) for t in range(11)) / 11
    mrec, mpre = np.r_[0, rec, 1], np.r_[0, prec, 0]
    for k in range(len(mpre) - 2, -1, -1):
        mpre[k] = max(mpre[k], mpre[k + 1])
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mpre[idx]))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("eleven_point", [False, True])
def test_voc_equals_the_devkit_loop(seed, eleven_point):
    preds, targets = random_scene(seed, crowd=0.0)
    rng = np.random.default_rng(seed)
    for t in targets:
        t["difficult"] = T(rng.random(len(t["boxes"])) < 0.2, torch.bool)
    for threshold in (0.5, 0.7):
        out = mean_average_precision(preds, targets, style="voc", iou_thresholds=[threshold], voc_11_point=eleven_point)
        for c, ap in zip(out["classes"].tolist(), out["map_per_class"].tolist(), strict=True):
            want = voc_devkit_loop(preds, targets, c, threshold, eleven_point)
            assert ap == pytest.approx(want, abs=1e-6), (c, threshold)


# ----------------------------------------------------------------------------- properties
@PROPERTY
@given(seed=st.integers(0, 2**16), style=st.sampled_from(["coco", "voc"]))
def test_properties_on_random_scenes(seed, style):
    preds, targets = random_scene(seed, n_images=3, ties=seed % 2 == 0)
    out = mean_average_precision(preds, targets, style=style)
    values = torch.cat([v.flatten() for k, v in out.items() if k != "classes"])
    assert (((values >= 0) & (values <= 1)) | (values == -1)).all()
    valid = out["map_per_class"][out["map_per_class"] > -1]
    assert out["map"].item() == pytest.approx(valid.mean().item() if len(valid) else -1.0, abs=1e-6)
    # an order-preserving change of the scores changes nothing (ties stay ties)
    squashed = [p | {"scores": torch.sigmoid(3 * p["scores"]) + 7} for p in preds]
    again = mean_average_precision(squashed, targets, style=style)
    assert all(torch.equal(out[k], again[k]) for k in out)
    # renaming the classes permutes the per-class values
    renamed = [d | {"labels": 10 - d["labels"]} for d in preds], [d | {"labels": 10 - d["labels"]} for d in targets]
    moved = mean_average_precision(*renamed, style=style)
    assert torch.equal(moved["classes"], 10 - out["classes"].flip(0))
    assert torch.equal(moved["map_per_class"], out["map_per_class"].flip(0))


@PROPERTY
@given(seed=st.integers(0, 2**16))
def test_curve_agrees_with_the_voc_ap(seed):
    preds, targets = random_scene(seed, n_images=3, n_classes=1, crowd=0.0)
    if not any(len(t["boxes"]) for t in targets):
        with pytest.raises(ValueError, match="recall is undefined"):
            precision_recall_curve(preds, targets, 0, style="voc")
        return
    precision, recall, scores = precision_recall_curve(preds, targets, 0, style="voc")
    assert (scores[1:] <= scores[:-1]).all() and (recall[1:] >= recall[:-1]).all()
    envelope = precision.double().flip(0).cummax(0).values.flip(0)
    steps = torch.diff(recall.double(), prepend=torch.zeros(1, dtype=torch.float64))
    ap = mean_average_precision(preds, targets, style="voc")["map"].item()
    assert (steps * envelope).sum().item() == pytest.approx(ap, abs=1e-6)


# ----------------------------------------------------------------------------- bad inputs
GOOD_P, GOOD_T = image([[0, 0, 5, 5]], [0.5]), image([[0, 0, 5, 5]])


@pytest.mark.parametrize("preds, targets, error, match", [
    ([GOOD_P], [GOOD_T, GOOD_T], ValueError, r"got 1 preds and 2 targets"),
    (GOOD_P, [GOOD_T], TypeError, r"preds: expected a list"),
    ([GOOD_P], "boxes", TypeError, r"targets: expected a list"),
    ([[0, 0, 5, 5]], [GOOD_T], TypeError, r"preds\[0\]: expected a dict"),
    ([GOOD_P, {"boxes": GOOD_P["boxes"], "labels": GOOD_P["labels"]}], [GOOD_T] * 2, ValueError,
     r"preds\[1\]: missing key 'scores'"),
    ([GOOD_P], [{"boxes": GOOD_T["boxes"]}], ValueError, r"targets\[0\]: missing key 'labels'"),
    ([GOOD_P | {"boxes": T([0, 0, 5, 5])}], [GOOD_T], ValueError, r"preds\[0\]\['boxes'\]: expected Tensor\[N, 4\]"),
    ([GOOD_P], [GOOD_T | {"boxes": T([[5, 0, 0, 5]])}], ValueError, r"targets\[0\]\['boxes'\]: expected x2 >= x1"),
    ([GOOD_P | {"boxes": T([[0, 0, math.nan, 5]])}], [GOOD_T], ValueError, r"preds\[0\]\['boxes'\]: .*finite"),
    ([GOOD_P | {"scores": T([math.inf])}], [GOOD_T], ValueError, r"preds\[0\]\['scores'\]: scores must be finite"),
    ([GOOD_P | {"scores": T([0.5, 0.4])}], [GOOD_T], ValueError, r"preds\[0\]\['scores'\]: expected Tensor\[1\]"),
    ([GOOD_P | {"labels": T([-1], torch.long)}], [GOOD_T], ValueError, r"preds\[0\]\['labels'\]: class ids must be >= 0"),
    ([GOOD_P], [GOOD_T | {"labels": T([0.0])}], TypeError, r"targets\[0\]\['labels'\]: expected integer"),
    ([GOOD_P], [GOOD_T | {"labels": T([0, 1], torch.long)}], ValueError, r"targets\[0\]\['labels'\]: expected Tensor\[1\]"),
    ([GOOD_P], [GOOD_T | {"labels": [0]}], TypeError, r"targets\[0\]\['labels'\]: expected a Tensor\[1\]"),
    ([GOOD_P], [GOOD_T | {"iscrowd": T([2], torch.long)}], ValueError, r"targets\[0\]\['iscrowd'\]: expected bool or 0/1"),
    ([GOOD_P], [GOOD_T | {"difficult": T([[True]], torch.bool)}], ValueError, r"targets\[0\]\['difficult'\]: expected Tensor\[1\]"),
    ([GOOD_P], [GOOD_T | {"area": T([-4.0])}], ValueError, r"targets\[0\]\['area'\]: areas must be finite and >= 0"),
])
def test_bad_inputs_name_the_image_and_key(preds, targets, error, match):
    with pytest.raises(error, match=match):
        mean_average_precision(preds, targets)
    with pytest.raises(error, match=match):
        precision_recall_curve(preds, targets, 0)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(iou_type="mask"), ValueError, r"iou_type: expected one of 'bbox', 'segm', got 'mask'"),
    (dict(style="yolo"), ValueError, r"style: expected one of coco, voc"),
    (dict(max_dets=5), ValueError, r"max_dets: expected an int >= 10"),
    (dict(max_dets=100.0), TypeError, r"max_dets: expected an int"),
    (dict(iou_thresholds=[]), ValueError, r"iou_thresholds: expected a non-empty list"),
    (dict(iou_thresholds=[0.5, 1.5]), ValueError, r"iou_thresholds\[1\]: expected a value in \[0, 1\]"),
    (dict(class_metrics=1), TypeError, r"class_metrics: expected True or False"),
    (dict(voc_11_point=True), ValueError, r"voc_11_point: .*style='voc'"),
])
def test_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        mean_average_precision([GOOD_P], [GOOD_T], **kwargs)


def test_thresholds_as_a_tensor_and_coco_defaults():
    preds, targets = random_scene(2)
    a = mean_average_precision(preds, targets, iou_thresholds=torch.tensor(COCO_IOU_THRESHOLDS, dtype=torch.float64))
    b = mean_average_precision(preds, targets)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(class_id=3), ValueError, r"class_id: no ground-truth box .* has label 3; recall is undefined"),
    (dict(class_id=-1), ValueError, r"class_id: expected an int >= 0"),
    (dict(class_id=0.0), TypeError, r"class_id: expected an int"),
    (dict(class_id=0, iou_threshold=2.0), ValueError, r"iou_threshold: expected a value in \[0, 1\]"),
    (dict(class_id=0, style="coco2"), ValueError, r"style: expected one of"),
])
def test_curve_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        precision_recall_curve([GOOD_P], [GOOD_T], **kwargs)


def test_a_class_with_only_crowd_gts_has_no_curve():
    crowd_only = [image([[0, 0, 5, 5]], iscrowd=[1])]
    with pytest.raises(ValueError, match="recall is undefined"):
        precision_recall_curve([GOOD_P], crowd_only, 0)
    assert mean_average_precision([GOOD_P], crowd_only)["map"].item() == -1.0


# ----------------------------------------------------------------------------- instance masks (iou_type="segm")
def shift(mask, dy, dx):
    """The mask moved by (dy, dx) pixels; what leaves the image is lost."""
    h, w = mask.shape
    out = torch.zeros_like(mask)
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = mask[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def dilate(mask, k=3):
    return F.max_pool2d(mask[None, None].float(), k, 1, k // 2)[0, 0] > 0


def perturb(mask, rng):
    """A detection's mask made from a GT mask: shifted, grown, shrunk, cut, speckled, or several of these."""
    for _ in range(rng.choice([1, 1, 2, 3])):
        kind = rng.choice(["shift", "grow", "shrink", "cut", "speckle", "same"])
        if kind == "shift":
            mask = shift(mask, *(int(v) for v in rng.integers(-4, 5, 2)))
        elif kind == "grow":
            mask = dilate(mask)
        elif kind == "shrink":
            mask = ~dilate(~mask)
        elif kind == "cut":  # the rows below a random row of the object are lost
            rows = mask.any(1).nonzero()[:, 0]
            if len(rows):
                mask = mask.clone()
                mask[int(rng.integers(rows[0], rows[-1] + 1)):] = False
        elif kind == "speckle":
            mask = mask ^ (torch.from_numpy(rng.random(mask.shape) < 0.05) & dilate(mask, 5))
    return mask


def random_mask_scene(seed, n_images=4, *, size=(160, 160), crowd=0.1, area=False, ties=False):
    """GT masks of `ShapesDataset` scenes (small, medium and large objects), detections made from them
    (perturbed, duplicated, given the wrong class, or missed), false positives (the objects of other
    scenes), empty detections, crowd GTs, an image without GT."""
    rng = np.random.default_rng(seed)
    ds = ShapesDataset(2 * n_images, image_size=size, min_objects=0, max_objects=5, seed=seed,
                       size_range=(0.05, 0.95), max_iou=0.5, min_visible=0.3)
    preds, targets = [], []
    for i in range(n_images):
        gt, labels = ds[i][1]["masks"], ds[i][1]["labels"]
        masks, det_labels = [], []
        for j in range(len(gt)):
            for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
                masks.append(perturb(gt[j], rng))
                det_labels.append(int(labels[j]) if rng.random() > 0.1 else int(rng.integers(0, 3)))
        other = ds[n_images + i][1]["masks"]
        for j in range(len(other)):      # false positives
            masks.append(perturb(other[j], rng))
            det_labels.append(int(rng.integers(0, 3)))
        if rng.random() < 0.3:
            masks.append(torch.zeros(size, dtype=torch.bool))
            det_labels.append(int(rng.integers(0, 3)))
        scores = rng.random(len(masks))
        if ties:
            scores = np.round(scores * 4) / 4
        target = {"masks": gt, "labels": labels, "iscrowd": T(rng.random(len(gt)) < crowd, torch.bool)}
        if area:
            target["area"] = gt.flatten(1).sum(1) * T(rng.uniform(0.5, 1.5, len(gt)))
        preds.append({"masks": torch.stack(masks) if masks else torch.zeros(0, *size, dtype=torch.bool),
                      "scores": T(scores), "labels": T(det_labels, torch.long)})
        targets.append(target)
    return preds, targets


MASK_SCENES = ([dict(seed=s) for s in range(4)]
               + [dict(seed=10 + s, area=True) for s in range(2)]
               + [dict(seed=20 + s, ties=True, crowd=0.3) for s in range(2)]
               + [dict(seed=30, n_images=8, size=(64, 80))])


@pytest.mark.parametrize("scene", MASK_SCENES, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_segm_equals_cocoeval_on_random_scenes(scene):
    preds, targets = random_mask_scene(**scene)
    ours = mean_average_precision(preds, targets, iou_type="segm")
    stats, precision, recall = cocoeval(preds, targets, "segm")
    got = np.array([ours[k].item() for k in COCO_KEYS])
    np.testing.assert_allclose(got, stats, atol=1e-6, rtol=0, err_msg=str(list(zip(COCO_KEYS, got, stats, strict=True))))
    ap, ar = coco_per_class(precision, recall)
    np.testing.assert_allclose(ours["map_per_class"].numpy(), ap, atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours["mar_100_per_class"].numpy(), ar, atol=1e-6, rtol=0)


def test_segm_scenes_cover_every_area_range():
    values = np.array([[mean_average_precision(*random_mask_scene(**scene), iou_type="segm")[k].item()
                        for k in ("map_small", "map_medium", "map_large")] for scene in MASK_SCENES[:4]])
    assert (values > -1).any(0).all()   # the comparison above saw small, medium and large objects


def test_segm_equals_cocoeval_with_other_thresholds_and_budgets():
    preds, targets = random_mask_scene(40, n_images=3, crowd=0.2)
    thresholds = (0.3, 0.5, 0.9)
    ours = mean_average_precision(preds, targets, "segm", iou_thresholds=list(thresholds), max_dets=10)
    stats, precision, _ = cocoeval(preds, targets, "segm", iouThrs=np.array(thresholds), maxDets=[1, 10, 10])
    stats[0] = precision[..., 0, -1][precision[..., 0, -1] > -1].mean()   # as in the bbox test above
    keys = [k.replace("mar_100", "mar_10") for k in COCO_KEYS]
    np.testing.assert_allclose([ours[k].item() for k in keys], stats, atol=1e-6, rtol=0)


def mask_image(shape, regions, scores=None, labels=None, **extra):
    """One image's dict of masks, each region a (row slice, column slice) set to True, or a ready mask."""
    masks = torch.zeros(len(regions), *shape, dtype=torch.bool)
    for m, region in zip(masks, regions, strict=True):
        if isinstance(region, torch.Tensor):
            m[:] = region
        else:
            m[region] = True
    out = {"masks": masks, "labels": torch.zeros(len(masks), dtype=torch.long) if labels is None else T(labels, torch.long)}
    if scores is not None:
        out["scores"] = T(scores)
    return out | {k: torch.tensor(v) for k, v in extra.items()}


# One 8 x 12 image, GT A (rows 0-3, columns 0-3: 16 px) and B (rows 0-3, columns 5-9: 20 px):
#   d1 (0.9) = A                          IoU 1      -> TP
#   d2 (0.8) = A moved right by 1         12/20 with A (taken) -> FP
#   d3 (0.7) = B without two pixels       18/20 = 0.9 with B   -> TP up to the threshold 0.9 included
#   d4 (0.6) 4 px elsewhere               -> FP
B_MINUS_2 = torch.zeros(8, 12, dtype=torch.bool)
B_MINUS_2[0:4, 5:10] = True
B_MINUS_2[3, 8:10] = False
GT_AB = [mask_image((8, 12), [(slice(0, 4), slice(0, 4)), (slice(0, 4), slice(5, 10))])]
DET_MASKS = [mask_image((8, 12), [(slice(0, 4), slice(0, 4)), (slice(0, 4), slice(1, 5)), B_MINUS_2,
                                  (slice(6, 8), slice(0, 2))], [0.9, 0.8, 0.7, 0.6])]


def test_segm_worked_by_hand():
    precision, recall, _ = precision_recall_curve(DET_MASKS, GT_AB, 0, 0.5, iou_type="segm")
    torch.testing.assert_close(precision, torch.tensor([1, 1 / 2, 2 / 3, 2 / 4]))
    torch.testing.assert_close(recall, torch.tensor([0.5, 0.5, 1.0, 1.0]))
    out = mean_average_precision(DET_MASKS, GT_AB, iou_type="segm")
    ap_low = (51 + 50 * 2 / 3) / 101     # thresholds 0.50 ... 0.90: d3 matches B (9 thresholds)
    ap_high = 51 / 101                   # threshold 0.95: only A is found
    # COCO's 0.9 is np.linspace's 0.8999999999999999, below 18/20 in float64 (a float32 IoU,
    # 0.89999998, would miss it)
    assert out["map"].item() == pytest.approx((9 * ap_low + ap_high) / 10)
    assert out["map_50"].item() == out["map_75"].item() == pytest.approx(ap_low)
    assert out["mar_100"].item() == pytest.approx((9 * 1 + 0.5) / 10)
    assert out["map_small"].item() == out["map"].item()                 # 16 and 20 px: small
    assert out["map_medium"].item() == out["map_large"].item() == -1.0
    stats, _, _ = cocoeval(DET_MASKS, GT_AB, "segm")
    np.testing.assert_allclose([out[k].item() for k in COCO_KEYS], stats, atol=1e-6, rtol=0)


def test_segm_crowd_overlap_is_exact_on_a_threshold():
    # crowd region: rows 0-8, columns 0-8 (81 px); d1 (0.9) covers 4 px, 3 inside the crowd: overlap 3/4
    # exactly, ignored up to the threshold 0.75, a FP above; d2 (0.5) finds the person (rows 0-3, columns
    # 15-17). From the IoU, 3/82, the overlap comes out as 0.7499999999999999 unless the intersection is
    # rounded to whole pixels (`_crowd_overlap`)
    d1 = torch.zeros(12, 20, dtype=torch.bool)
    d1[8, 7:9] = d1[7, 8:10] = True                  # (8, 7), (8, 8), (7, 8) inside, (7, 9) outside
    gt = [mask_image((12, 20), [(slice(0, 9), slice(0, 9)), (slice(0, 4), slice(15, 18))], iscrowd=[True, False])]
    det = [mask_image((12, 20), [d1, (slice(0, 4), slice(15, 18))], [0.9, 0.5])]
    out = mean_average_precision(det, gt, iou_type="segm")
    # thresholds 0.50 ... 0.75 (6): AP 1; 0.80 ... 0.95 (4): precision 1/2 at recall 1
    assert out["map"].item() == pytest.approx((6 * 1 + 4 * 0.5) / 10)
    stats, _, _ = cocoeval(det, gt, "segm")
    np.testing.assert_allclose([out[k].item() for k in COCO_KEYS], stats, atol=1e-6, rtol=0)


def test_segm_area_is_the_pixel_count():
    # a thin diagonal line: its box is 40 x 40 = 1600 px^2 (medium), its mask 40 px (small)
    line = torch.eye(40, dtype=torch.bool)
    out = mean_average_precision([mask_image((40, 40), [line], [0.9])], [mask_image((40, 40), [line])], iou_type="segm")
    assert (out["map_small"].item(), out["map_medium"].item()) == (1.0, -1.0)
    boxes = mean_average_precision([image([[0, 0, 40, 40]], [0.9])], [image([[0, 0, 40, 40]])])
    assert (boxes["map_small"].item(), boxes["map_medium"].item()) == (-1.0, 1.0)


def test_segm_of_filled_boxes_equals_bbox():
    # masks that fill integer boxes: mask IoU = box IoU (pixel-edge boxes), areas alike, so every value agrees
    rng = np.random.default_rng(0)
    preds, targets = [], []
    for _ in range(4):
        dicts = []
        for n in (int(rng.integers(1, 6)), int(rng.integers(0, 10))):
            xy = rng.integers(0, 50, (n, 2))
            boxes = np.concatenate([xy, xy + rng.integers(1, 30, (n, 2))], 1)
            regions = [(slice(y1, y2), slice(x1, x2)) for x1, y1, x2, y2 in boxes.tolist()]
            dicts.append(mask_image((80, 80), regions, labels=rng.integers(0, 2, n).tolist()))
        target, pred = dicts
        pred["scores"] = T(rng.random(len(pred["masks"])))
        preds.append(pred)
        targets.append(target)
    as_boxes = [[d | {"boxes": masks_to_boxes(d["masks"]) + T([0, 0, 1, 1], torch.float32)} for d in ds]
                for ds in (preds, targets)]
    for style in ("coco", "voc"):
        segm = mean_average_precision(preds, targets, "segm", style=style)
        bbox = mean_average_precision(*as_boxes, "bbox", style=style)
        for key in segm:
            torch.testing.assert_close(segm[key], bbox[key], atol=1e-6, rtol=0)


def test_segm_perfect_detector_and_voc():
    preds, targets = random_mask_scene(5, crowd=0.0)
    perfect = [{"masks": t["masks"], "scores": torch.linspace(1, 0.5, len(t["masks"])), "labels": t["labels"]}
               for t in targets]
    assert mean_average_precision(perfect, targets, "segm")["map"].item() == 1.0
    assert mean_average_precision(perfect, targets, "segm", style="voc")["map"].item() == 1.0
    voc = mean_average_precision(preds, targets, "segm", style="voc")
    assert 0 < voc["map"].item() < 1


def test_segm_integer_masks_equal_bool_masks():
    preds, targets = random_mask_scene(6, n_images=2)
    want = mean_average_precision(preds, targets, "segm")
    as_uint8 = [p | {"masks": p["masks"].to(torch.uint8)} for p in preds]
    got = mean_average_precision(as_uint8, targets, "segm")
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_segm_empty_inputs():
    empty_pred = {"masks": torch.zeros(0, 8, 12, dtype=torch.bool), "scores": T([]), "labels": T([], torch.long)}
    out = mean_average_precision([empty_pred], GT_AB, iou_type="segm")
    assert out["map"].item() == 0.0 and out["classes"].tolist() == [0]
    empty_gt = {"masks": torch.zeros(0, 8, 12, dtype=torch.bool), "labels": T([], torch.long)}
    out = mean_average_precision([empty_pred], [empty_gt], iou_type="segm")
    assert all((v == -1).all() for k, v in out.items() if k != "classes")


GOOD_MP, GOOD_MT = mask_image((4, 5), [(slice(0, 2), slice(0, 2))], [0.5]), mask_image((4, 5), [(slice(0, 2), slice(0, 2))])


@pytest.mark.parametrize("preds, targets, error, match", [
    ([GOOD_MP | {"masks": GOOD_MP["masks"].float()}], [GOOD_MT], TypeError,
     r"preds\[0\]\['masks'\]: expected binary masks .*got dtype torch.float32; threshold probabilities at 0.5 first"),
    ([GOOD_MP], [GOOD_MT | {"masks": GOOD_MT["masks"].double() * 0.9}], TypeError, r"targets\[0\]\['masks'\]: .*at 0.5"),
    ([GOOD_MP | {"masks": GOOD_MP["masks"][0]}], [GOOD_MT], ValueError,
     r"preds\[0\]\['masks'\]: expected Tensor\[N, H, W\] \(bool masks\), got Tensor\[4, 5\]"),
    ([GOOD_MP | {"masks": GOOD_MP["masks"].tolist()}], [GOOD_MT], TypeError, r"preds\[0\]\['masks'\]: expected a bool Tensor"),
    ([GOOD_MP | {"masks": GOOD_MP["masks"].to(torch.uint8) * 255}], [GOOD_MT], ValueError,
     r"preds\[0\]\['masks'\]: expected bool or 0/1 masks; mask 0 holds other values"),
    ([GOOD_MP], [GOOD_MT | {"masks": torch.zeros(1, 5, 4, dtype=torch.bool)}], ValueError,
     r"preds\[0\]\['masks'\] and targets\[0\]\['masks'\]: expected masks of one image size, got H x W = 4 x 5 and 5 x 4"),
    ([GOOD_MP | {"masks": torch.zeros(0, 4, 4, dtype=torch.bool), "scores": T([]), "labels": T([], torch.long)}],
     [GOOD_MT], ValueError, r"expected masks of one image size"),
    ([GOOD_P], [GOOD_MT], ValueError, r"preds\[0\]: missing key 'masks'"),
    ([GOOD_MP], [GOOD_MT | {"labels": T([0, 0], torch.long)}], ValueError, r"targets\[0\]\['labels'\]: expected Tensor\[1\]"),
])
def test_segm_bad_inputs_name_the_image_and_key(preds, targets, error, match):
    with pytest.raises(error, match=match):
        mean_average_precision(preds, targets, iou_type="segm")
    with pytest.raises(error, match=match):
        precision_recall_curve(preds, targets, 0, iou_type="segm")
