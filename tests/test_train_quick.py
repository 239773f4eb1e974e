"""Quick mode (CVCOURSE_QUICK): the long trainings' configs shrink only when asked, the caller's
overrides always win, a notice says so, and a bad value is an error, not a silent full run."""
import pytest

from cvcourse.models import mask_rcnn
from cvcourse.train import QUICK_ENV, quick_changes, quick_mode
from cvcourse.yolo import train as yolo_train


@pytest.mark.parametrize("value", ["", "0", "false", "No", "off"])
def test_off(monkeypatch, value):
    monkeypatch.setenv(QUICK_ENV, value)
    assert quick_mode() is False
    assert quick_changes({"epochs": 1}, {"lr": 0.1}, "X") == {"lr": 0.1}


def test_unset_gives_the_full_configs(monkeypatch, capsys):
    monkeypatch.delenv(QUICK_ENV, raising=False)
    assert mask_rcnn.shapes_config() == mask_rcnn.MaskRCNNConfig()
    assert yolo_train.shapes_config() == yolo_train.YoloConfig()
    assert mask_rcnn.shapes_config().train_images == 6000 and yolo_train.shapes_config().epochs == 8
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_on_shrinks_both_trainings_and_says_so(monkeypatch, capsys, value):
    monkeypatch.setenv(QUICK_ENV, value)
    m, y = mask_rcnn.shapes_config(), yolo_train.shapes_config()
    assert (m.train_images, m.epochs, m.eval_images) == (800, 1, 64)
    assert (y.train_images, y.epochs, y.eval_images) == (800, 1, 64)
    assert m.lr == mask_rcnn.MaskRCNNConfig().lr and y.image_size == yolo_train.YoloConfig().image_size
    err = capsys.readouterr().err
    assert "quick Mask R-CNN run (train_images=800, epochs=1, eval_images=64)" in err and "quick YOLO run" in err


def test_explicit_changes_win_over_quick_mode(monkeypatch):
    monkeypatch.setenv(QUICK_ENV, "1")
    c = yolo_train.shapes_config(epochs=3, lr=5e-3)
    assert (c.epochs, c.lr, c.train_images) == (3, 5e-3, 800)


def test_bad_value_is_an_error(monkeypatch):
    monkeypatch.setenv(QUICK_ENV, "maybe")
    with pytest.raises(ValueError, match=r"CVCOURSE_QUICK='maybe': expected one of"):
        quick_mode()
    with pytest.raises(ValueError, match="CVCOURSE_QUICK"):
        mask_rcnn.shapes_config()
