"""Mean average precision (mAP) of object detections, with the conventions of COCO or PASCAL VOC.

Inputs follow torchmetrics' `MeanAveragePrecision`: two lists with one dict per image,

    preds[i]   = {"boxes": Tensor[N, 4] (xyxy), "scores": Tensor[N], "labels": Tensor[N] (int >= 0)}
    targets[i] = {"boxes": Tensor[M, 4] (xyxy), "labels": Tensor[M],
                  optional: "iscrowd", "difficult": Tensor[M] (bool or 0/1), "area": Tensor[M]}

Coordinates are continuous (a box is x2 - x1 wide, no "+1 pixel"); everything is computed in float64.

Instance masks (`iou_type="segm"`) replace "boxes" by "masks": `Tensor[N, H, W]` bool (or integer
0/1; probabilities are refused: threshold them at 0.5 first), of the same H x W for the predictions
and the targets of one image. A region's area is then its pixel count and the IoU that of the masks
(`cvcourse.ops.mask_iou`, exactly pycocotools' ratio of pixel counts); everything else below holds
unchanged, as in COCOeval with iouType="segm".

COCO (`style="coco"`) reproduces pycocotools' COCOeval for bounding boxes and masks:

1. Per image and class, detections are sorted by score (stable: ties keep their input order) and
   only the first `max_dets` count.
2. Per IoU threshold t (0.50, 0.55, ..., 0.95), each detection in turn takes, among the GT boxes
   not taken yet, the one with the highest IoU >= t (ties: the later GT). Ignored GTs (crowd,
   area outside the range being scored, or "difficult": COCO has no such flag, it is treated
   like an out-of-range GT) are taken only when no regular GT qualifies. A crowd GT is never used up, and the overlap with it is |D ∩ G| / |D| (the
   detection may cover one member of the crowd).
3. A detection that took an ignored GT, or took none and has its own area outside the range, is
   ignored: neither a true positive (TP) nor a false positive (FP).
4. Per class, area range and detection budget, the detections of all images sorted by score give
   precision TP / (TP + FP) and recall TP / npos (npos: the GTs not ignored) after each one. The
   precision is made non-increasing from the right (its envelope) and read at the 101 recall
   levels 0, 0.01, ..., 1 (0 beyond the highest recall reached); their mean is the AP. The final
   recall is the AR.
5. mAP is the mean of AP over IoU thresholds and classes (AR likewise).

Area ranges use the GT's "area" when given, else its region's area; a detection's area is its
region's area (the box area, or for masks the pixel count, as COCOeval uses for "segm"). The ranges:
small [0, 32^2], medium [32^2, 96^2], large [96^2, 1e10], all [0, 1e10], bounds included, as in
COCOeval. The budgets 1, 10 and `max_dets` are per image *and class*, as in COCOeval.

VOC (`style="voc"`) follows the PASCAL VOC devkit (VOCevaldet.m): each detection, in score order,
is assigned the GT of its image and class with the highest IoU (taken ones included; ties: the
first). With IoU >= t (0.5) it is a TP if that GT was not taken yet, else a FP (a duplicate);
assigned to a "difficult" (or "iscrowd") GT it is ignored; below t it is a FP. AP is the area under
the precision envelope over every recall reached (VOC2010+), or with `voc_11_point=True` the mean
of the highest precision at recall >= 0, 0.1, ..., 1 (VOC2007; exact tenths, where the devkit's
0:0.1:1 puts 0.3 one bit above 3/10). The devkit keeps every detection; here, as for COCO, the
first `max_dets` per image and class (100 by default). The devkit counts pixels
(width = x2 - x1 + 1): add 1 to x2 and y2 of every box to reproduce its numbers.

Undefined values are -1, as in COCO, never NaN: the AP and AR of a class without GT (in an area
range), and any mean with nothing to average (no GT at all; "map_50" when 0.5 is not among the IoU
thresholds). Classes without GT are left out of the means.

`_IOU_TYPES` holds what depends on `iou_type` ("bbox" or "segm"): where the regions are, how to
check them, their areas and their IoU.

References: Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014, and pycocotools'
cocoeval.py; Everingham et al., "The PASCAL Visual Object Classes (VOC) Challenge", IJCV 2010.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from cvcourse.ops import box_area, box_iou, mask_iou
from cvcourse.ops._validate import check_boxes, check_scores, check_threshold

__all__ = [
    "COCO_AREA_RANGES",
    "COCO_IOU_THRESHOLDS",
    "COCO_RECALL_LEVELS",
    "STYLES",
    "mean_average_precision",
    "precision_recall_curve",
]

STYLES = ("coco", "voc")
# numpy's linspace, as in COCOeval: torch.linspace rounds some of these differently, and the recall
# levels are compared with recalls such as 7/100, so the last bit matters.
COCO_IOU_THRESHOLDS = tuple(np.linspace(0.5, 0.95, 10).tolist())
COCO_RECALL_LEVELS = tuple(np.linspace(0.0, 1.0, 101).tolist())
COCO_AREA_RANGES = {"all": (0.0, 1e10), "small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2),
                    "large": (96.0**2, 1e10)}
_VOC_AREA_RANGES = {"all": (0.0, float("inf"))}
_F64 = torch.float64


# ----------------------------------------------------------------------------- what iou_type decides
class _IouType(NamedTuple):
    key: str                                   # the dict key holding each object's region
    check: Callable[[object, str], Tensor]     # the regions, validated, on the CPU (boxes float64, masks bool)
    area: Callable[[Tensor], Tensor]           # (N,) areas of N regions
    iou: Callable[[Tensor, Tensor], Tensor]    # (N, M) IoU of N detections with M GTs, float64
    pixels: bool                               # areas are whole pixel counts


def _check_boxes64(boxes: object, name: str) -> Tensor:
    return check_boxes(boxes, name).detach().to("cpu", _F64)


def _check_masks(masks: object, name: str) -> Tensor:
    """Binary masks as a bool `Tensor[N, H, W]` on the CPU; probabilities are refused."""
    if not isinstance(masks, Tensor):
        raise TypeError(f"{name}: expected a bool Tensor[N, H, W], got {type(masks).__name__}")
    if masks.is_floating_point() or masks.is_complex():
        raise TypeError(f"{name}: expected binary masks (bool Tensor[N, H, W]), got dtype {masks.dtype}; "
                        f"threshold probabilities at 0.5 first (masks > 0.5)")
    if masks.dim() != 3:
        raise ValueError(f"{name}: expected Tensor[N, H, W] (bool masks), got Tensor{list(masks.shape)}")
    masks = masks.detach().cpu()
    if masks.dtype != torch.bool:
        bad = ((masks != 0) & (masks != 1)).flatten(1).any(1)
        if bad.any():
            raise ValueError(f"{name}: expected bool or 0/1 masks; mask {_first(bad)} holds other values")
    return masks.bool()


def _mask_area(masks: Tensor) -> Tensor:
    return masks.flatten(1).sum(1, dtype=_F64)


def _mask_iou64(masks1: Tensor, masks2: Tensor) -> Tensor:
    return mask_iou(masks1, masks2, dtype=_F64)


_IOU_TYPES = {"bbox": _IouType("boxes", _check_boxes64, box_area, box_iou, pixels=False),
              "segm": _IouType("masks", _check_masks, _mask_area, _mask_iou64, pixels=True)}


def _crowd_overlap(iou: Tensor, det_area: Tensor, gt_area: Tensor, pixels: bool) -> Tensor:
    """COCO's overlap with a crowd region, |D ∩ G| / |D|, from IoU = I / (|D| + |G| - I), whence
    I = IoU (|D| + |G|) / (1 + IoU). It holds for any region (boxes, masks); 0 for an empty D.
    For masks (`pixels`) I is a whole number of pixels: rounding it gives pycocotools' I / |D|
    exactly. For boxes it can differ from pycocotools' in the last bit, which matters only when the
    overlap lands exactly on a threshold (integer boxes, e.g. exactly 0.75)."""
    inter = iou * (det_area[:, None] + gt_area[None, :]) / (1 + iou)   # (N, M)
    if pixels:
        inter = inter.round()
    return inter / det_area[:, None].clamp_min(torch.finfo(_F64).tiny)


# ----------------------------------------------------------------------------- input checks
class _Image(NamedTuple):
    det: Tensor         # (N, ...) detected regions: boxes (N, 4) xyxy float64, or masks (N, H, W) bool
    det_area: Tensor    # (N,)
    scores: Tensor      # (N,) float64
    det_labels: Tensor  # (N,) int64
    gt: Tensor          # (M, ...) ground-truth regions
    gt_area: Tensor     # (M,) the "area" given, else the region's area: picks COCO's area range
    gt_labels: Tensor   # (M,) int64
    crowd: Tensor       # (M,) bool
    difficult: Tensor   # (M,) bool


def _check_keys(image: object, name: str, keys: tuple[str, ...]) -> None:
    if not isinstance(image, Mapping):
        raise TypeError(f"{name}: expected a dict with keys {', '.join(keys)}, got {type(image).__name__}")
    for key in keys:
        if key not in image:
            raise ValueError(f"{name}: missing key {key!r} (expected keys {', '.join(keys)})")


def _check_vector(values: object, n: int, name: str, what: str) -> Tensor:
    """A real 1-D `Tensor[n]` on the CPU (no dtype change), or TypeError/ValueError naming `name`."""
    if not isinstance(values, Tensor):
        raise TypeError(f"{name}: expected a Tensor[{n}] of {what}, got {type(values).__name__}")
    if values.is_complex():
        raise TypeError(f"{name}: expected {what}, got dtype {values.dtype}")
    if values.shape != (n,):
        raise ValueError(f"{name}: expected Tensor[{n}] (one per box), got Tensor{list(values.shape)}")
    return values.detach().cpu()


def _first(bad: Tensor) -> int:
    return int(bad.nonzero()[0, 0])


def _check_labels(labels: object, n: int, name: str) -> Tensor:
    labels = _check_vector(labels, n, name, "integer class ids")
    if labels.dtype == torch.bool or labels.is_floating_point():
        raise TypeError(f"{name}: expected integer class ids, got dtype {labels.dtype}")
    labels = labels.long()
    if (labels < 0).any():
        i = _first(labels < 0)
        raise ValueError(f"{name}: class ids must be >= 0; element {i} is {labels[i].item()}")
    return labels


def _check_flags(flags: object, n: int, name: str) -> Tensor:
    if flags is None:
        return torch.zeros(n, dtype=torch.bool)
    flags = _check_vector(flags, n, name, "flags (bool or 0/1)")
    bad = (flags != 0) & (flags != 1)
    if bad.any():
        i = _first(bad)
        raise ValueError(f"{name}: expected bool or 0/1 flags; element {i} is {flags[i].item()}")
    return flags.bool()


def _check_area(area: object, n: int, name: str) -> Tensor:
    area = _check_vector(area, n, name, "areas")
    if area.dtype == torch.bool:
        raise TypeError(f"{name}: expected areas, got dtype {area.dtype}")
    area = area.to(_F64)
    bad = ~torch.isfinite(area) | (area < 0)
    if bad.any():
        i = _first(bad)
        raise ValueError(f"{name}: areas must be finite and >= 0; element {i} is {area[i].item()}")
    return area


def _check_image(pred: object, target: object, i: int, kind: _IouType) -> _Image:
    _check_keys(pred, f"preds[{i}]", (kind.key, "scores", "labels"))
    _check_keys(target, f"targets[{i}]", (kind.key, "labels"))
    det = kind.check(pred[kind.key], f"preds[{i}][{kind.key!r}]")
    scores = check_scores(pred["scores"], len(det), f"preds[{i}]['scores']").detach().to("cpu", _F64)
    det_labels = _check_labels(pred["labels"], len(det), f"preds[{i}]['labels']")
    gt = kind.check(target[kind.key], f"targets[{i}][{kind.key!r}]")
    if det.shape[1:] != gt.shape[1:]:   # masks: one image size
        raise ValueError(f"preds[{i}][{kind.key!r}] and targets[{i}][{kind.key!r}]: expected masks of one "
                         f"image size, got H x W = {' x '.join(map(str, det.shape[1:]))} and "
                         f"{' x '.join(map(str, gt.shape[1:]))}")
    m = len(gt)
    gt_labels = _check_labels(target["labels"], m, f"targets[{i}]['labels']")
    crowd = _check_flags(target.get("iscrowd"), m, f"targets[{i}]['iscrowd']")
    difficult = _check_flags(target.get("difficult"), m, f"targets[{i}]['difficult']")
    area = target.get("area")
    gt_area = kind.area(gt) if area is None else _check_area(area, m, f"targets[{i}]['area']")
    return _Image(det, kind.area(det), scores, det_labels, gt, gt_area, gt_labels, crowd, difficult)


def _check_inputs(preds: object, targets: object, iou_type: object) -> tuple[list[_Image], _IouType]:
    if not isinstance(iou_type, str) or iou_type not in _IOU_TYPES:
        raise ValueError(f"iou_type: expected one of {', '.join(map(repr, _IOU_TYPES))}, got {iou_type!r}")
    kind = _IOU_TYPES[iou_type]
    for name, value in (("preds", preds), ("targets", targets)):
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise TypeError(f"{name}: expected a list with one dict per image, got {type(value).__name__}")
    if len(preds) != len(targets):
        raise ValueError(f"preds and targets: expected one dict per image in each, got {len(preds)} preds "
                         f"and {len(targets)} targets")
    return [_check_image(p, t, i, kind) for i, (p, t) in enumerate(zip(preds, targets, strict=True))], kind


def _check_options(style: object, max_dets: object, iou_thresholds: object) -> Tensor:
    """The IoU thresholds as a float64 Tensor[T] (the style's default when None)."""
    if style not in STYLES:
        raise ValueError(f"style: expected one of {', '.join(STYLES)}, got {style!r}")
    if isinstance(max_dets, bool) or not isinstance(max_dets, int):
        raise TypeError(f"max_dets: expected an int >= 10, got {type(max_dets).__name__}")
    if max_dets < 10:
        raise ValueError(f"max_dets: expected an int >= 10 (recall is also reported at 1 and 10), got {max_dets}")
    if iou_thresholds is None:
        iou_thresholds = COCO_IOU_THRESHOLDS if style == "coco" else (0.5,)
    if isinstance(iou_thresholds, Tensor):
        iou_thresholds = iou_thresholds.flatten().tolist()
    if not isinstance(iou_thresholds, Sequence) or len(iou_thresholds) == 0:
        raise ValueError(f"iou_thresholds: expected a non-empty list of numbers in [0, 1], got {iou_thresholds!r}")
    return torch.tensor([check_threshold(t, f"iou_thresholds[{i}]") for i, t in enumerate(iou_thresholds)],
                        dtype=_F64)


def _check_flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__}")
    return value


# ----------------------------------------------------------------------------- matching, one image and class
def _match_coco(ious: Tensor, gt_ignore: Tensor, crowd: Tensor, thresholds: Tensor) -> tuple[Tensor, Tensor]:
    """COCOeval's greedy matching, for every area range and IoU threshold at once.

    Args:
        ious: (D, G) overlaps of the detections (by decreasing score) with the GTs.
        gt_ignore: (A, G) the GTs ignored in each area range.
        crowd: (G,) crowd GTs, which are never used up.
        thresholds: (T,) IoU thresholds.

    Returns:
        matched (A, T, D): the detection took a GT; on_ignored (A, T, D): that GT is an ignored one.
    """
    (A, G), D, T = gt_ignore.shape, ious.shape[0], thresholds.shape[0]
    if D == 0:
        return (torch.zeros(A, T, 0, dtype=torch.bool),) * 2
    # GTs in reverse order: argmax returns the first of equal maxima, COCOeval keeps the last
    ious, gt_ignore, crowd = ious.flip(1), gt_ignore.flip(1), crowd.flip(0)
    thr = thresholds.clamp(max=1 - 1e-10)[:, None]                  # (T, 1); COCOeval's cap
    regular_gt = ~gt_ignore[:, None, :]                             # (A, 1, G)
    uses_up = torch.eye(G, dtype=torch.bool) & ~crowd               # (G, G) row g: taking GT g uses up g
    free = torch.ones(A, T, G, dtype=torch.bool)                    # GTs not used up yet
    unmatched = torch.zeros(A, T, dtype=torch.bool)
    matched, on_ignored = [], []
    for iou, close in zip(ious, (ious >= thr.min()).any(1).tolist(), strict=True):
        if not close:                                               # no GT close enough at any threshold
            matched.append(unmatched), on_ignored.append(unmatched)
            continue
        ok = (iou >= thr) & free                                    # (A, T, G) the candidates
        regular = ok & regular_gt
        has_regular = regular.any(-1)                               # (A, T)
        pool = torch.where(has_regular[..., None], regular, ok)     # regular GTs come first
        g = torch.where(pool, iou, -1.0).argmax(-1)                 # (A, T) the best candidate
        hit = pool.any(-1)                                          # (A, T)
        matched.append(hit), on_ignored.append(hit & ~has_regular)
        free &= ~(uses_up[g] & hit[..., None])
    return torch.stack(matched, -1), torch.stack(on_ignored, -1)    # (A, T, D) each


def _match_voc(ious: Tensor, gt_ignore: Tensor, thresholds: Tensor) -> tuple[Tensor, Tensor]:
    """The VOC devkit's assignment (same Args and Returns as `_match_coco`; `matched` means a TP or
    a detection on an ignored GT). Vectorized: a detection is a TP when it is the first, in score
    order, whose best GT is that one with IoU >= t."""
    (A, G), D, T = gt_ignore.shape, ious.shape[0], thresholds.shape[0]
    if G == 0 or D == 0:
        return (torch.zeros(A, T, D, dtype=torch.bool),) * 2
    g = ious.argmax(1)                                              # (D,) best GT, the first among ties
    best = ious.gather(1, g[:, None])[:, 0]                         # (D,) (faster than max(dim=1))
    hit = best >= thresholds[:, None]                               # (T, D)
    on_gt = hit[:, :, None] & F.one_hot(g, G).bool()                # (T, D, G)
    first = (on_gt & (on_gt.cumsum(1) == 1)).any(-1)                # (T, D) first hit on its GT
    ignored = gt_ignore[:, None, g]                                 # (A, 1, D)
    return (hit & first).expand(A, T, D), hit & ignored


# ----------------------------------------------------------------------------- all images, per class
class _ClassStats(NamedTuple):
    """The detections of one class over all images (image order, then score order) and its GTs."""

    scores: Tensor  # (D,)
    rank: Tensor    # (D,) rank by score within its image (0 = best)
    tp: Tensor      # (A, T, D) bool
    fp: Tensor      # (A, T, D) bool
    npos: Tensor    # (A,) GTs not ignored


def _evaluate(images: list[_Image], classes: list[int], kind: _IouType, style: str, thresholds: Tensor,
              areas: Mapping[str, tuple[float, float]], max_dets: int) -> list[_ClassStats]:
    lo, hi = torch.tensor(list(areas.values()), dtype=_F64).T[:, :, None]  # (A, 1) each
    A, T = lo.shape[0], thresholds.shape[0]
    parts: dict[int, list[tuple[Tensor, ...]]] = {c: [] for c in classes}
    for im in images:
        ious = kind.iou(im.det, im.gt)                              # (N, M)
        if style == "coco" and im.crowd.any():
            ious = torch.where(im.crowd, _crowd_overlap(ious, im.det_area, kind.area(im.gt), kind.pixels), ious)
        order = torch.sort(im.scores, descending=True, stable=True).indices
        present = set(im.det_labels.tolist()) | set(im.gt_labels.tolist())
        for c in present.intersection(parts):
            d = order[im.det_labels[order] == c][:max_dets]         # (D,) by decreasing score
            g = (im.gt_labels == c).nonzero()[:, 0]                 # (G,)
            area = im.gt_area[g]
            gt_ignore = (im.crowd | im.difficult)[g] | (area < lo) | (area > hi)   # (A, G)
            if style == "coco":
                matched, on_ignored = _match_coco(ious[d][:, g], gt_ignore, im.crowd[g], thresholds)
            else:
                matched, on_ignored = _match_voc(ious[d][:, g], gt_ignore, thresholds)
            outside = (im.det_area[d] < lo) | (im.det_area[d] > hi)                 # (A, D)
            ignored = on_ignored | (~matched & outside[:, None, :])               # (A, T, D)
            parts[c].append((im.scores[d], torch.arange(len(d)), matched & ~ignored,
                             ~matched & ~ignored, (~gt_ignore).sum(1)))
    empty = (torch.zeros(0, dtype=_F64), torch.zeros(0, dtype=torch.long),
             torch.zeros(A, T, 0, dtype=torch.bool), torch.zeros(A, T, 0, dtype=torch.bool),
             torch.zeros(A, dtype=torch.long))
    stats = []
    for c in classes:
        scores, rank, tp, fp, npos = zip(empty, *parts[c], strict=True)
        stats.append(_ClassStats(torch.cat(scores), torch.cat(rank), torch.cat(tp, -1), torch.cat(fp, -1),
                                 torch.stack(npos).sum(0)))
    return stats


def _cumulative(tp: Tensor, fp: Tensor, npos: Tensor) -> tuple[Tensor, Tensor]:
    """Precision and recall after each detection (last dim); precision 0 before any counts."""
    tp, fp = tp.cumsum(-1, dtype=_F64), fp.cumsum(-1, dtype=_F64)
    return tp / (tp + fp).clamp(min=1), tp / npos.clamp(min=1).reshape(-1, *[1] * (tp.dim() - 1))


# ----------------------------------------------------------------------------- accumulation
def _coco_curves(s: _ClassStats, budgets: Sequence[int], levels: Tensor) -> tuple[Tensor, Tensor]:
    """Interpolated precision (A, M, T, R) at the recall levels and recall (A, M, T), per detection
    budget; -1 in the area ranges without GT (COCOeval.accumulate)."""
    A, T, _ = s.tp.shape
    precision = torch.zeros(A, len(budgets), T, len(levels), dtype=_F64)
    recall = torch.zeros(A, len(budgets), T, dtype=_F64)
    for m, budget in enumerate(budgets):
        keep = s.rank < budget
        order = torch.sort(s.scores[keep], descending=True, stable=True).indices
        D = len(order)
        if D == 0:
            continue
        pr, rc = _cumulative(s.tp[..., keep][..., order], s.fp[..., keep][..., order], s.npos)  # (A, T, D)
        envelope = pr.flip(-1).cummax(-1).values.flip(-1)
        at = torch.searchsorted(rc, levels.expand(A, T, -1).contiguous())                       # first rc >= level
        precision[:, m] = envelope.gather(-1, at.clamp(max=D - 1)).masked_fill(at >= D, 0.0)   # (A, T, R)
        recall[:, m] = rc[..., -1]
    precision[s.npos == 0] = -1
    recall[s.npos == 0] = -1
    return precision, recall


def _voc_ap(s: _ClassStats, eleven_point: bool) -> tuple[Tensor, Tensor]:
    """AP (T,) and recall (T,) of one class (area range "all"); -1 without GT."""
    T = s.tp.shape[1]
    if s.npos[0] == 0:
        return torch.full((T,), -1.0, dtype=_F64), torch.full((T,), -1.0, dtype=_F64)
    if s.tp.shape[-1] == 0:
        return torch.zeros(T, dtype=_F64), torch.zeros(T, dtype=_F64)
    order = torch.sort(s.scores, descending=True, stable=True).indices
    pr, rc = _cumulative(s.tp[0][:, order], s.fp[0][:, order], s.npos[:1])  # (T, D)
    if eleven_point:
        levels = torch.arange(11, dtype=_F64) / 10
        reached = rc[:, None, :] >= levels[:, None]                 # (T, 11, D)
        return torch.where(reached, pr[:, None, :], 0.0).amax(-1).mean(-1), rc[:, -1]
    zero, one = torch.zeros(T, 1, dtype=_F64), torch.ones(T, 1, dtype=_F64)
    mrec, mpre = torch.cat([zero, rc, one], 1), torch.cat([zero, pr, zero], 1)
    mpre = mpre.flip(-1).cummax(-1).values.flip(-1)                 # the precision envelope
    return ((mrec[:, 1:] - mrec[:, :-1]) * mpre[:, 1:]).sum(-1), rc[:, -1]


def _mean(x: Tensor) -> Tensor:
    """The mean of the entries > -1, or -1 if there is none; a float32 scalar."""
    valid = x[x > -1]
    return (valid.mean() if valid.numel() else torch.tensor(-1.0)).float()


def _per_class(x: Tensor) -> Tensor:
    return torch.stack([_mean(row) for row in x]) if len(x) else torch.zeros(0)


def _stack(tensors: list[Tensor], *shape: int) -> Tensor:
    """torch.stack, or an empty Tensor[0, *shape] for no tensors (no classes)."""
    return torch.stack(tensors) if tensors else torch.zeros(0, *shape, dtype=_F64)


def _coco_summary(stats: list[_ClassStats], thresholds: Tensor, max_dets: int, class_metrics: bool) -> dict[str, Tensor]:
    """COCOeval.summarize's twelve numbers (AP, AP50, AP75, AP and AR by size, AR by budget)."""
    budgets = (1, 10, max_dets)
    levels = torch.tensor(COCO_RECALL_LEVELS, dtype=_F64)
    curves = [_coco_curves(s, budgets, levels) for s in stats]
    T, R = len(thresholds), len(levels)
    prec = _stack([p for p, _ in curves], 4, 3, T, R)            # (C, A, M, T, R); A: all, small,
    rec = _stack([r for _, r in curves], 4, 3, T)                # (C, A, M, T)     medium, large
    out = {"map": _mean(prec[:, 0, -1])}
    for name, t in (("map_50", 0.5), ("map_75", 0.75)):
        out[name] = _mean(prec[:, 0, -1, (thresholds - t).abs() < 1e-9])
    for a, size in enumerate(("small", "medium", "large"), 1):
        out[f"map_{size}"] = _mean(prec[:, a, -1])
    for m, budget in enumerate(budgets):
        out[f"mar_{budget}"] = _mean(rec[:, 0, m])
    for a, size in enumerate(("small", "medium", "large"), 1):
        out[f"mar_{size}"] = _mean(rec[:, a, -1])
    if class_metrics:
        out["map_per_class"] = _per_class(prec[:, 0, -1].flatten(1))
        out[f"mar_{max_dets}_per_class"] = _per_class(rec[:, 0, -1])
    return out


def _voc_summary(stats: list[_ClassStats], T: int, eleven_point: bool, class_metrics: bool) -> dict[str, Tensor]:
    results = [_voc_ap(s, eleven_point) for s in stats]
    ap = _stack([a for a, _ in results], T)                      # (C, T)
    rec = _stack([r for _, r in results], T)
    out = {"map": _mean(ap), "mar": _mean(rec)}
    if class_metrics:
        out.update(map_per_class=_per_class(ap), mar_per_class=_per_class(rec))
    return out


# ----------------------------------------------------------------------------- public
def mean_average_precision(
    preds: Sequence[Mapping[str, Tensor]],
    targets: Sequence[Mapping[str, Tensor]],
    iou_type: str = "bbox",
    *,
    iou_thresholds: Sequence[float] | Tensor | None = None,
    max_dets: int = 100,
    style: str = "coco",
    class_metrics: bool = True,
    voc_11_point: bool = False,
) -> dict[str, Tensor]:
    """Mean average precision and recall of detections over a set of images (COCO or VOC rules).

    The rules of each style, step by step, are in this module's docstring. In short, COCO: greedy
    matching at IoU 0.50:0.05:0.95, crowd GTs, 101-point interpolated AP, area ranges and
    detection budgets 1/10/`max_dets`; VOC: IoU 0.5, all-point AP (or 11-point), difficult GTs.

    Args:
        preds: one dict per image: "boxes" `Tensor[N, 4]` (xyxy, detections), "scores" `Tensor[N]`
            (finite), "labels" `Tensor[N]` (integer class ids >= 0). With iou_type="segm", "masks"
            `Tensor[N, H, W]` (bool) instead of "boxes".
        targets: one dict per image, in the same order: "boxes" `Tensor[M, 4]` (xyxy, ground truth)
            or, with iou_type="segm", "masks" `Tensor[M, H, W]` (bool, the H x W of the image's
            preds), "labels" `Tensor[M]`; optional "iscrowd" and "difficult" `Tensor[M]` (bool or
            0/1; ignored GTs) and "area" `Tensor[M]` (COCO's area ranges use it instead of the
            region's area).
        iou_type: "bbox" (boxes, box IoU, box areas) or "segm" (instance masks, mask IoU, areas in
            pixels; as COCOeval's iouType="segm"). Masks must be binary: threshold probabilities
            at 0.5 first.
        iou_thresholds: the IoU thresholds, in [0, 1]; default COCO's ten (0.50, ..., 0.95) or
            VOC's (0.5,).
        max_dets: detections kept per image and class, by score (>= 10); COCO's recall is also
            reported with 1 and 10.
        style: "coco" or "voc".
        class_metrics: add the per-class values.
        voc_11_point: VOC2007's 11-point AP (only with style="voc").

    Returns:
        A dict of float32 tensors; -1 marks an undefined value (never NaN). With style="coco":
        "map", "map_50", "map_75", "map_small", "map_medium", "map_large" (scalars, mean AP),
        "mar_1", "mar_10", f"mar_{max_dets}", "mar_small", "mar_medium", "mar_large" (mean AR),
        with `class_metrics` "map_per_class" and f"mar_{max_dets}_per_class" (`Tensor[C]`), and
        "classes" (`Tensor[C]` int64: the sorted labels of preds and targets). With style="voc":
        "map", "mar", "map_per_class", "mar_per_class", "classes".

    Raises:
        TypeError / ValueError: naming the image and key (e.g. "preds[3]['scores']") for a missing
            key, a wrong shape, non-finite boxes or scores, float masks, masks of another H x W than
            the targets', negative labels; or naming the argument.

    Reference: Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014 (pycocotools'
    COCOeval, iouType "bbox" and "segm"); Everingham et al., "The PASCAL Visual Object Classes (VOC) Challenge", IJCV 2010.
    """
    images, kind = _check_inputs(preds, targets, iou_type)
    thresholds = _check_options(style, max_dets, iou_thresholds)
    class_metrics = _check_flag(class_metrics, "class_metrics")
    if _check_flag(voc_11_point, "voc_11_point") and style != "voc":
        raise ValueError("voc_11_point: the 11-point AP is VOC's; pass style='voc' with it")
    classes = sorted(set().union(*(set(im.det_labels.tolist()) | set(im.gt_labels.tolist()) for im in images)))
    areas = COCO_AREA_RANGES if style == "coco" else _VOC_AREA_RANGES
    stats = _evaluate(images, classes, kind, style, thresholds, areas, max_dets)
    if style == "voc":
        out = _voc_summary(stats, len(thresholds), voc_11_point, class_metrics)
    else:
        out = _coco_summary(stats, thresholds, max_dets, class_metrics)
    out["classes"] = torch.tensor(classes, dtype=torch.long)
    return out


def precision_recall_curve(
    preds: Sequence[Mapping[str, Tensor]],
    targets: Sequence[Mapping[str, Tensor]],
    class_id: int,
    iou_threshold: float = 0.5,
    *,
    style: str = "coco",
    max_dets: int = 100,
    iou_type: str = "bbox",
) -> tuple[Tensor, Tensor, Tensor]:
    """The precision/recall curve of one class at one IoU threshold, one point per detection.

    Detections of `class_id` from all images are matched as `mean_average_precision` does (all
    areas), sorted by decreasing score (stable), and after each one precision = TP / (TP + FP) and
    recall = TP / (number of GTs not ignored). Ignored detections (on a crowd or difficult GT) are
    left out. The precision is the raw, zig-zagging one; AP uses its envelope,
    `precision.flip(0).cummax(0).values.flip(0)`.

    Args:
        preds: one dict per image, as for `mean_average_precision` (xyxy boxes or, with
            iou_type="segm", bool masks; scores, labels).
        targets: one dict per image, as for `mean_average_precision`.
        class_id: the class (a label >= 0 of at least one GT box).
        iou_threshold: the IoU a detection needs to match a GT, in [0, 1].
        style: "coco" (greedy matching, crowd GTs) or "voc" (the devkit's assignment).
        max_dets: detections kept per image, by score (>= 10).
        iou_type: "bbox" (boxes) or "segm" (instance masks), as for `mean_average_precision`.

    Returns:
        (precision, recall, scores): three float32 `Tensor[K]`, K the number of detections of
        `class_id` that count, in decreasing score order.

    Raises:
        ValueError: no GT (not ignored) has label `class_id`: recall is undefined; or any input
            error of `mean_average_precision`.

    Reference: Everingham et al., "The PASCAL Visual Object Classes (VOC) Challenge", IJCV 2010,
    section 4.2; Lin et al., ECCV 2014.
    """
    images, kind = _check_inputs(preds, targets, iou_type)
    thresholds = _check_options(style, max_dets, [check_threshold(iou_threshold, "iou_threshold")])
    if isinstance(class_id, bool) or not isinstance(class_id, int):
        raise TypeError(f"class_id: expected an int >= 0, got {type(class_id).__name__}")
    if class_id < 0:
        raise ValueError(f"class_id: expected an int >= 0, got {class_id}")
    areas = {"all": COCO_AREA_RANGES["all"]} if style == "coco" else _VOC_AREA_RANGES
    s = _evaluate(images, [class_id], kind, style, thresholds, areas, max_dets)[0]
    if s.npos[0] == 0:
        raise ValueError(f"class_id: no ground-truth box (crowd and difficult ones aside) has label {class_id}; "
                         f"recall is undefined")
    order = torch.sort(s.scores, descending=True, stable=True).indices
    tp, fp = s.tp[0, 0, order], s.fp[0, 0, order]
    counts = tp | fp
    precision, recall = _cumulative(tp[counts], fp[counts], s.npos[:1])
    return precision.float(), recall.float(), s.scores[order][counts].float()
