"""cvcourse.models.mask_rcnn: outputs in eval and train mode, every loss falls when one batch is
overfitted, images without objects, a checkpoint round trip, seeded construction, training with
`fit(loss_fn=None)`, the chapter's helpers, and bad inputs named. Tiny models on 32 x 32 scenes."""
import math

import pytest
import torch

from cvcourse.data.shapes import ShapesDataset, collate
from cvcourse.models import MaskRCNN
from cvcourse.models.mask_rcnn import (
    MaskRCNNConfig,
    evaluate_mask_rcnn,
    mask_rcnn,
    shapes_config,
    shapes_data,
    train_mask_rcnn,
)
from cvcourse.train import fit, load_checkpoint, save_checkpoint

TINY = dict(widths=(8, 8, 16, 16), fpn_channels=16, anchor_sizes=(6.0, 12.0), box_hidden=32, mask_channels=8,
            rpn_pre_nms_top_n=(60, 40), rpn_post_nms_top_n=(24, 16), rpn_batch_size_per_image=64)
LOSSES = ["loss_box_reg", "loss_classifier", "loss_mask", "loss_objectness", "loss_rpn_box_reg"]


def tiny(seed=0, **kwargs):
    torch.manual_seed(seed)
    return MaskRCNN(3, **{**TINY, **kwargs})


def batch(n=2, seed=0, size=32):
    return collate([ShapesDataset(n, image_size=size, seed=seed)[i] for i in range(n)])


# ----------------------------------------------------------------------------- outputs
def test_eval_outputs_per_image_boxes_labels_scores_and_pasted_masks():
    model = tiny().eval()
    images, _ = batch(3)
    with torch.no_grad():
        out = model(images)
        again = model(list(images))                             # a list of images gives the same
    assert isinstance(out, list) and len(out) == 3
    for d, e in zip(out, again, strict=True):
        assert sorted(d) == ["boxes", "labels", "masks", "scores"]
        n = len(d["boxes"])
        assert d["boxes"].shape == (n, 4) and d["scores"].shape == (n,) and d["labels"].shape == (n,)
        assert d["masks"].shape == (n, 1, 32, 32) and d["masks"].dtype == torch.float32
        assert d["labels"].dtype == torch.int64 and ((d["labels"] >= 0) & (d["labels"] < 3)).all()
        assert ((d["masks"] >= 0) & (d["masks"] <= 1)).all() and (d["scores"][:-1] >= d["scores"][1:]).all()
        assert ((d["boxes"] >= 0) & (d["boxes"] <= 32)).all() and n <= 20
        assert all(torch.equal(d[k], e[k]) for k in d)


def test_features_are_the_backbone_of_the_normalised_images():
    model = tiny().eval()
    images, _ = batch(2)
    with torch.no_grad():
        features = model.features(images)
        by_hand = model.backbone((images - 0.5) / 0.25)         # mean 0.5, std 0.25 per channel
    assert features.shape == (2, 16, 8, 8)
    torch.testing.assert_close(features, by_hand)
    with pytest.raises(ValueError, match="images"):
        model.features(torch.zeros(3, 32, 32))


def test_train_mode_returns_five_finite_named_losses():
    model = tiny().train()
    images, targets = batch(2)
    losses = model(images, targets)
    assert sorted(losses) == LOSSES
    assert all(v.ndim == 0 and math.isfinite(v.item()) for v in losses.values())
    sum(losses.values()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_every_loss_falls_when_one_batch_is_overfitted():
    # Sampling is random per step, so means over several steps are compared. The early window starts
    # at step 5: at step 0 the RPN proposes nothing useful, the only positive RoIs are the ground-truth
    # boxes themselves (regression target 0), and loss_box_reg first *rises* as real proposals appear.
    model = tiny().train()
    images, targets = batch(2, seed=3)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = {k: [] for k in LOSSES}
    for _ in range(80):
        losses = model(images, targets)
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
        for k, v in losses.items():
            history[k].append(v.item())
    for k, values in history.items():
        early, late = sum(values[5:15]) / 10, sum(values[-5:]) / 5
        assert late < 0.75 * early, (k, early, late)


def test_images_without_objects_train_without_nan():
    images, targets = batch(2)
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64),
             "masks": torch.zeros(0, 32, 32, dtype=torch.bool)}
    model = tiny().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for t in ([targets[0], empty], [empty, empty]):
        losses = model(images, t)
        assert all(math.isfinite(v.item()) for v in losses.values()), losses
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
        assert all(torch.isfinite(p).all() for p in model.parameters())
    assert losses["loss_mask"].item() == 0.0 and losses["loss_box_reg"].item() == 0.0


def test_checkpoint_round_trip_predicts_the_same(tmp_path):
    model = tiny().train()
    images, targets = batch(2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        losses = model(images, targets)
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    save_checkpoint(tmp_path / "m.pt", model, opt, epoch=3)
    fresh = tiny(seed=1)
    load_checkpoint(tmp_path / "m.pt", fresh)
    with torch.no_grad():
        a, b = model.eval()(images), fresh.eval()(images)
    for d, e in zip(a, b, strict=True):
        assert all(torch.equal(d[k], e[k]) for k in d)


def test_seeded_construction_is_deterministic():
    a, b, c = tiny(seed=0), tiny(seed=0), tiny(seed=1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)
    config = shapes_config(model=tuple(TINY.items()))
    torch.manual_seed(123)
    first = mask_rcnn(config).state_dict()
    second = mask_rcnn(config).state_dict()                   # the config's seed, whatever the RNG was
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_default_model_size():
    # the chapter's model: the backbone (ResNet + one-level FPN), the RPN and the two heads
    model = MaskRCNN(3)
    assert sum(p.numel() for p in model.parameters()) == 846_859
    assert model.backbone(torch.zeros(1, 3, 64, 64)).shape == (1, 64, 16, 16)


# ----------------------------------------------------------------------------- training helpers
def test_fit_trains_the_model_with_loss_fn_none():
    data = [ShapesDataset(8, image_size=32, seed=0)[i] for i in range(8)]
    model = tiny()
    loader = torch.utils.data.DataLoader(data, batch_size=4, collate_fn=collate)
    history = fit(model, loader, epochs=2, optimizer=torch.optim.Adam(model.parameters(), lr=1e-3), loss_fn=None,
                  metrics=None, progress=False)
    assert history.keys() == ["train_loss", *(f"train_{k}" for k in
                                              ("loss_objectness", "loss_rpn_box_reg", "loss_classifier",
                                               "loss_box_reg", "loss_mask")), "lr", "seconds"]
    assert history["train_loss"][1] < history["train_loss"][0]


def test_train_and_evaluate_helpers_on_a_tiny_config():
    config = shapes_config(image_size=32, train_images=8, eval_images=4, epochs=1, batch_size=4,
                           model=tuple(TINY.items()))
    assert isinstance(config, MaskRCNNConfig) and shapes_config().train_images == MaskRCNNConfig().train_images
    model, history = train_mask_rcnn(config, progress=False)
    assert not model.training and len(history) == 1
    result = evaluate_mask_rcnn(model, shapes_data(config, "eval"), batch_size=2)
    assert sorted(result) == ["box_map", "box_map_50", "images_per_second", "mask_map", "mask_map_50", "seconds"]
    assert all(-1 <= result[k] <= 1 for k in ("box_map", "box_map_50", "mask_map", "mask_map_50"))
    with pytest.raises(ValueError, match="split: expected 'train' or 'eval'"):
        shapes_data(config, "test")


def test_shapes_data_are_the_config_s_dataset_items():
    # chapter 11 trains on these: the config's seeds and scene arguments, boxes, labels and masks
    config = shapes_config(image_size=32, train_images=3, eval_images=2, train_seed=5, eval_seed=6, max_objects=2)
    for split, n, seed in (("train", 3, 5), ("eval", 2, 6)):
        items = [ShapesDataset(n, image_size=32, max_objects=2, seed=seed)[i] for i in range(n)]
        got = shapes_data(config, split)
        assert [torch.equal(a[0], b[0]) and all(torch.equal(a[1][k], b[1][k]) for k in b[1])
                for a, b in zip(got, items, strict=True)] == [True] * n


# ----------------------------------------------------------------------------- bad input
def _bad_cases():
    images, targets = batch(2)
    t0 = targets[0]
    return [
        (images[0], targets, r"images: expected Tensor\[B, 3, H, W\]"),
        (images[:, :1], targets, r"images: expected Tensor\[B, 3, H, W\]"),
        ((images * 255).to(torch.uint8), targets, "images: expected floating-point values"),
        ([images[0], images[1, :, :16]], targets, "every image of a batch must have one size"),
        (images[:, :, :8, :8], targets, "at least 16 x 16 pixels"),
        (images, None, "targets: in training mode the model needs targets"),
        (images, targets[:1], "targets: expected a list of 2 dicts"),
        (images, [{"boxes": t0["boxes"], "labels": t0["labels"]}, targets[1]], r"targets\[0\]: missing key\(s\) \['masks'\]"),
        (images, [{**t0, "labels": t0["labels"] + 3}, targets[1]], r"targets\[0\]\['labels'\]: expected 0-based class indices in \[0, 3\)"),
        (images, [{**t0, "labels": t0["labels"] - 1 - t0["labels"]}, targets[1]], r"in \[0, 3\), got values from -1"),
        (images, [{**t0, "labels": t0["labels"].float()}, targets[1]], r"targets\[0\]\['labels'\]: expected an integer"),
        (images, [{**t0, "boxes": t0["boxes"][:, :3]}, targets[1]], r"targets\[0\]\['boxes'\]: expected Tensor\[K, 4\]"),
        (images, [{**t0, "masks": t0["masks"][:, :16]}, targets[1]], r"targets\[0\]\['masks'\]: expected Tensor\["),
        (images, [{**t0, "boxes": t0["boxes"][:, [2, 1, 0, 3]]}, targets[1]], "x2 > x1 and y2 > y1"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_cases())))
def test_bad_inputs_are_named(case):
    images, targets, match = _bad_cases()[case]
    with pytest.raises(ValueError, match=match):
        tiny().train()(images, targets)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        MaskRCNN(0)
    with pytest.raises(ValueError, match="widths: expected 4 channel counts"):
        MaskRCNN(3, widths=(8, 8))
    with pytest.raises(ValueError, match="mask_batch_size_per_image"):
        MaskRCNN(3, mask_batch_size_per_image=0)
