"""cvcourse.yolo.model / train (chapter 12): the tiny YOLO's shapes and modes, a model that overfits one
image to a near-perfect mAP, seeded training, anchors and evaluation."""
import pytest
import torch

from cvcourse.data.shapes import ShapesDataset
from cvcourse.metrics import mean_average_precision
from cvcourse.yolo import TinyYOLO, evaluate_yolo, shapes_config, shapes_data, train_yolo, yolo_anchors

ANCHORS = [[[8, 8], [12, 12]], [[16, 16], [24, 24]]]


def test_raw_outputs_and_modes():
    torch.manual_seed(0)
    model = TinyYOLO(3, ANCHORS, image_size=(64, 32), width=4)
    images = torch.rand(2, 3, 64, 32)
    raw = model.raw(images)
    assert raw.shape == (2, 2 * (8 * 4 + 4 * 2), 8)               # A (H W / 64 + H W / 256) predictions
    losses = model(images, [{"boxes": torch.tensor([[2.0, 2, 20, 20]]), "labels": torch.tensor([1])},
                            {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}])
    assert set(losses) == {"loss_box", "loss_obj", "loss_noobj", "loss_cls"}
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    out = model(images)
    assert len(out) == 2 and set(out[0]) == {"boxes", "scores", "labels"}


def test_initial_objectness_is_small():
    model = TinyYOLO(3, ANCHORS, image_size=64, width=4).eval()
    p = torch.sigmoid(model.raw(torch.rand(1, 3, 64, 64))[0, :, 4])
    assert p.max() < 0.2                                          # the biases start at about 4 objects per image


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_classes=0), "num_classes"),
    (dict(width=0), "width"),
    (dict(image_size=40), "not divisible by the stride 16"),
    (dict(xy_scale=0.5), "xy_scale"),
])
def test_model_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TinyYOLO(**({"num_classes": 3, "anchors": ANCHORS} | kwargs))


def test_forward_rejects():
    model = TinyYOLO(3, ANCHORS, image_size=64, width=4)
    with pytest.raises(ValueError, match="64 x 64 images"):
        model.raw(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="targets"):
        model(torch.rand(1, 3, 64, 64))


@pytest.mark.parametrize("loss", [dict(), dict(box_loss="mse", obj_target="iou", multi_anchor_threshold=0.3)])
def test_overfits_one_image_to_a_near_perfect_map(loss):
    image, target = ShapesDataset(1, image_size=64, min_objects=3, max_objects=3, seed=5)[0]
    target = {"boxes": target["boxes"], "labels": target["labels"]}
    torch.manual_seed(0)
    model = TinyYOLO(3, ANCHORS, image_size=64, width=8, loss=loss,
                     detect={"score_threshold": 0.3})
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    x = image[None].repeat(4, 1, 1, 1)                           # a batch of 4 copies (BatchNorm needs > 1)
    for _ in range(150):
        optimizer.zero_grad()
        sum(model(x, [target] * 4).values()).backward()
        optimizer.step()
    model.eval()
    pred = model(image[None])
    m = mean_average_precision(pred, [target])
    assert float(m["map_50"]) == 1.0 and float(m["map"]) > 0.7, m


def test_training_is_seeded_and_evaluates():
    config = shapes_config(image_size=64, train_images=64, eval_images=16, epochs=1, batch_size=16, width=4)
    data = shapes_data(config)
    assert len(data) == 64 and set(data[0][1]) == {"boxes", "labels"}
    runs = [train_yolo(config, data, progress=False)[1]["train_loss"] for _ in range(2)]
    assert runs[0] == runs[1]
    model, history = train_yolo(config, data, progress=False)
    assert set(history.keys()) >= {"train_loss", "train_loss_box", "train_loss_obj", "train_loss_noobj",
                                   "train_loss_cls"}
    result = evaluate_yolo(model, shapes_data(config, "eval"))
    assert 0 <= result["map"] <= result["map_50"] <= 1 and result["images_per_second"] > 0
    assert not model.training


def test_yolo_anchors_split_by_area():
    data = shapes_data(shapes_config(image_size=64, train_images=40))
    anchors = yolo_anchors(data, 6)
    assert anchors.shape == (2, 3, 2)
    area = anchors[..., 0] * anchors[..., 1]
    assert torch.all(area.flatten()[1:] >= area.flatten()[:-1])
    with pytest.raises(ValueError, match="multiple of levels"):
        yolo_anchors(data, 5)
    with pytest.raises(ValueError, match="split"):
        shapes_data(shapes_config(), "test")


def test_shapes_data_are_the_config_s_scenes_without_masks():
    # chapter 12 trains on these: the config's seeds and scene arguments, no masks
    data = shapes_data(shapes_config(image_size=32, eval_images=2, eval_seed=6, max_objects=2), "eval")
    image, target = ShapesDataset(2, image_size=32, max_objects=2, seed=6)[1]
    assert list(data[1][1]) == ["boxes", "labels"] and torch.equal(data[1][0], image)
    assert torch.equal(data[1][1]["boxes"], target["boxes"]) and torch.equal(data[1][1]["labels"], target["labels"])
