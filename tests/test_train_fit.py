"""cvcourse.train.fit: it learns (one batch is overfitted), is reproducible, steps schedulers, stops
early and keeps the best weights, accepts auxiliary-head models, refuses NaN losses, picks devices,
prints nothing unless asked, plots its History, and names every bad argument."""
import matplotlib

matplotlib.use("Agg")

import importlib  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import NamedTuple  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from cvcourse.train import (  # noqa: E402
    Callback,
    EarlyStopping,
    FitState,
    History,
    ModelCheckpoint,
    fit,
    load_checkpoint,
    plot_history,
    seed_everything,
    select_device,
)

fit_module = importlib.import_module("cvcourse.train.fit")  # `cvcourse.train.fit` is the function
ROOT = Path(__file__).resolve().parent.parent
NO_TIME = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv("CVCOURSE_DEVICE", raising=False)
    monkeypatch.delenv("CVCOURSE_PROGRESS", raising=False)


def blobs(n=64, features=4, classes=3, seed=0, flip=False):
    """Linearly separable-ish classes: class c is centred at 2 * e_c (features >= classes)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    x = torch.randn(n, features, generator=g) * 0.7
    x[torch.arange(n), y] += 2.0
    return TensorDataset(x, (classes - 1 - y) if flip else y)


def mlp(features=4, classes=3, seed=0, dropout=0.0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(features, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, classes))


def train(model=None, data=None, val=None, *, lr=0.1, **kwargs):
    model = mlp() if model is None else model
    kwargs.setdefault("optimizer", torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9))
    kwargs.setdefault("epochs", 2)
    kwargs.setdefault("progress", False)
    kwargs.setdefault("batch_size", 16)
    return model, fit(model, blobs() if data is None else data, val, loss_fn=nn.CrossEntropyLoss(), **kwargs)


# ----------------------------------------------------------------------------- learning
def test_overfits_one_batch():
    # 16 samples with random labels: an 8-64-4 MLP memorises them. Bound: after 60 full-batch Adam
    # steps the loss is below 0.01 (it was 1.46) and every sample is classified right.
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(16, 8, generator=g), torch.randint(0, 4, (16,), generator=g))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 4))
    history = fit(model, data, epochs=60, optimizer=torch.optim.Adam(model.parameters(), lr=0.05),
                  loss_fn=nn.CrossEntropyLoss(), batch_size=16, progress=False)
    assert history["train_loss"][-1] < 0.01 and history["train_loss"][0] > 1.0
    assert history["train_accuracy"][-1] == 1.0


def test_history_keys_and_values():
    _, history = train(val=blobs(seed=1), epochs=3)
    assert history.keys() == ["train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    assert len(history) == 3 and all(len(history[k]) == 3 for k in history.keys())
    assert history["lr"] == [0.1] * 3 and all(s > 0 for s in history["seconds"])
    assert all(0 <= a <= 1 for a in history["train_accuracy"] + history["val_accuracy"])
    assert history["val_loss"][-1] < history["val_loss"][0]


def test_logged_numbers_are_sample_weighted_means():
    # 10 samples in batches of 4: the epoch's val loss is the mean over the 10 samples, not over the 3 batches.
    data = blobs(n=10)
    model = mlp()
    _, history = train(model, data, data, epochs=1, lr=0.0)  # lr 0: the model does not change
    with torch.no_grad():
        x, y = data.tensors
        expected = nn.functional.cross_entropy(model(x), y).item()
        accuracy = (model(x).argmax(1) == y).double().mean().item()
    assert history["val_loss"][0] == pytest.approx(expected, rel=1e-6)
    assert history["train_loss"][0] == pytest.approx(expected, rel=1e-6)
    assert history["val_accuracy"][0] == pytest.approx(accuracy)


def test_same_seed_same_losses_and_another_seed_differs():
    runs = [train(mlp(dropout=0.3, seed=s), val=blobs(seed=1), seed=s, epochs=3)[1] for s in (5, 5, 6)]
    for key in NO_TIME:
        assert runs[0][key] == runs[1][key], key
    assert runs[0]["train_loss"] != runs[2]["train_loss"]


def test_seed_everything_seeds_torch_numpy_and_random():
    import random

    import numpy as np

    seed_everything(3)
    first = (torch.rand(2), np.random.rand(2), random.random())
    seed_everything(3)
    second = (torch.rand(2), np.random.rand(2), random.random())
    assert torch.equal(first[0], second[0]) and (first[1] == second[1]).all() and first[2] == second[2]
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_model_mode_is_restored():
    model = mlp().eval()
    train(model, val=blobs(seed=1))
    assert not model.training
    model.train()
    train(model, val=blobs(seed=1))
    assert model.training


def test_a_dataloader_is_used_as_is():
    data = blobs(n=12)
    seen = []
    loader = DataLoader(data, batch_size=5, shuffle=False)

    def count(outputs, targets):
        seen.append(len(targets))
        return 0.0

    train(data=loader, epochs=1, metrics={"count": count})
    assert seen == [5, 5, 2]


# ----------------------------------------------------------------------------- schedulers
def test_scheduler_steps_every_epoch():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    _, history = train(model, epochs=3, optimizer=opt, scheduler=torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5))
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0125)


def test_scheduler_steps_every_batch():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1 + step))
    _, history = train(model, blobs(n=48), epochs=2, optimizer=opt, scheduler=sched, scheduler_step="batch")
    assert history["lr"] == pytest.approx([1.0, 1.0 / 4])  # 3 batches per epoch: step 3 starts epoch 2
    assert sched.last_epoch == 6


def test_reduce_lr_on_plateau_gets_the_validation_loss():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    # threshold 1 (relative): no epoch ever counts as an improvement, so every epoch halves the rate
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5, threshold=1.0)
    seen, step = [], sched.step
    sched.step = lambda value: (seen.append(value), step(value))
    _, history = train(model, val=blobs(seed=1), epochs=3, optimizer=opt, scheduler=sched)
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025])
    assert seen == history["val_loss"]
    seen.clear()
    _, history = train(model, epochs=2, optimizer=opt, scheduler=sched)  # no val_data: the training loss
    assert seen == history["train_loss"]


# ----------------------------------------------------------------------------- callbacks
def test_early_stopping_stops_and_restores_the_best_weights(tmp_path):
    # The validation labels are the training labels reversed: the better the model fits, the worse
    # the validation loss, so the best epoch is the first and training stops after `patience` more.
    model = mlp()
    stop = EarlyStopping(patience=2)
    best = ModelCheckpoint(tmp_path / "best.pt")
    _, history = train(model, val=blobs(flip=True), epochs=10, callbacks=[stop, best])
    assert len(history) == 3 and stop.stopped_epoch == 3
    assert history.best("val_loss").epoch == 1 == stop.best_epoch == best.best_epoch
    saved = mlp(seed=1)
    assert load_checkpoint(tmp_path / "best.pt", saved)["epoch"] == 1
    for a, b in zip(model.state_dict().values(), saved.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the model ended with the epoch-1 weights


def test_early_stopping_without_improvement_and_without_restore():
    model = mlp()
    # lr 0: the loss changes only by rounding (the batches come in another order each epoch)
    stop = EarlyStopping(monitor="train_loss", patience=1, min_delta=1e-6, restore_best_weights=False)
    _, history = train(model, epochs=10, lr=0.0, callbacks=stop)
    assert len(history) == 2 and stop.stopped_epoch == 2 and stop.best_weights is None


def _state(model):
    return FitState(model, torch.optim.SGD(model.parameters(), lr=0.1), None, History(), 10)


def test_early_stopping_logic_by_hand():
    model = nn.Linear(1, 1, bias=False)
    state = _state(model)
    stop = EarlyStopping(monitor="val_loss", patience=2, min_delta=0.05)
    stop.on_train_begin(state)
    decisions = []
    for epoch, loss in enumerate([1.0, 0.5, 0.47, math.nan], 1):
        model.weight.data.fill_(epoch)
        decisions.append(stop.on_epoch_end(epoch, {"val_loss": loss}, state))
    # 0.47 is not better than 0.5 by more than min_delta; NaN never improves; patience 2 ends at epoch 4
    assert decisions == [None, None, None, True] and stop.best == 0.5 and stop.best_epoch == 2
    stop.on_train_end(state)
    assert model.weight.item() == 2.0


def test_callbacks_rebuild_their_best_from_the_history():
    # After a resume the history holds the earlier epochs: patience and best continue from there.
    state = _state(nn.Linear(1, 1))
    state.history = History({"val_accuracy": [0.5, 0.9, 0.8]})
    stop = EarlyStopping(monitor="val_accuracy", mode="max", patience=2)
    stop.on_train_begin(state)
    assert (stop.best, stop.best_epoch, stop.wait) == (0.9, 2, 1)
    assert stop.on_epoch_end(4, {"val_accuracy": 0.85}, state) is True


def test_model_checkpoint_keeps_the_best(tmp_path):
    model = nn.Linear(1, 1, bias=False)
    state = _state(model)
    keep = ModelCheckpoint(tmp_path / "best.pt", monitor="val_accuracy", mode="max")
    keep.on_train_begin(state)
    for epoch, accuracy in enumerate([0.5, 0.7, 0.6], 1):
        model.weight.data.fill_(epoch)
        keep.on_epoch_end(epoch, {"val_accuracy": accuracy}, state)
    loaded = nn.Linear(1, 1, bias=False)
    assert load_checkpoint(tmp_path / "best.pt", loaded)["epoch"] == 2 and loaded.weight.item() == 2.0
    every = ModelCheckpoint(tmp_path / "every.pt", monitor="val_accuracy", mode="max", save_best_only=False)
    every.on_epoch_end(3, {"val_accuracy": 0.1}, state)
    assert load_checkpoint(tmp_path / "every.pt", loaded)["epoch"] == 3
    state.is_main = False  # other DDP ranks never write
    ModelCheckpoint(tmp_path / "rank1.pt").on_epoch_end(1, {"val_loss": 0.1}, state)
    assert not (tmp_path / "rank1.pt").exists()


def test_a_custom_callback_sees_every_epoch_and_can_stop():
    class StopAt(Callback):
        def __init__(self):
            self.seen = []

        def on_epoch_end(self, epoch, logs, state):
            self.seen.append((epoch, sorted(logs), len(state.history)))
            return epoch == 2

    cb = StopAt()
    _, history = train(epochs=5, callbacks=[cb])
    assert len(history) == 2
    assert cb.seen == [(1, ["lr", "seconds", "train_accuracy", "train_loss"], 1),
                       (2, ["lr", "seconds", "train_accuracy", "train_loss"], 2)]


def test_monitor_missing_from_the_logs_is_named():
    with pytest.raises(ValueError, match=r"monitor 'val_loss' is not logged.*pass val_data"):
        train(callbacks=[EarlyStopping()])


@pytest.mark.parametrize("make, error, match", [
    (lambda: EarlyStopping(mode="up"), ValueError, "mode: expected 'min'"),
    (lambda: EarlyStopping(patience=-1), ValueError, "patience"),
    (lambda: EarlyStopping(patience=1.5), TypeError, "patience"),
    (lambda: EarlyStopping(min_delta=-0.1), ValueError, "min_delta"),
    (lambda: EarlyStopping(monitor=3), TypeError, "monitor"),
    (lambda: EarlyStopping(restore_best_weights="yes"), TypeError, "restore_best_weights"),
    (lambda: ModelCheckpoint(3), TypeError, "path"),
    (lambda: ModelCheckpoint("x.pt", save_best_only=1), TypeError, "save_best_only"),
])
def test_bad_callback_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ----------------------------------------------------------------------------- auxiliary heads
class Outputs(NamedTuple):
    logits: torch.Tensor
    aux: torch.Tensor


class AuxNet(nn.Module):
    """GoogLeNet-like: (logits, aux) in train mode, logits alone in eval mode; the auxiliary head
    always predicts the wrong class, so a metric computed on it would be visibly wrong."""

    def __init__(self, named: bool):
        super().__init__()
        torch.manual_seed(0)
        self.body, self.aux, self.named = nn.Linear(4, 3), nn.Linear(4, 3), named

    def forward(self, x):
        logits = self.body(x)
        if not self.training:
            return logits
        aux = self.aux(x)
        return Outputs(logits, aux) if self.named else (logits, aux)


@pytest.mark.parametrize("named", [False, True], ids=["tuple", "namedtuple"])
def test_models_with_auxiliary_heads(named):
    received, measured = [], []

    def loss_fn(outputs, targets):
        received.append(type(outputs).__name__)
        if isinstance(outputs, tuple):
            return nn.functional.cross_entropy(outputs[0], targets) + 0.3 * nn.functional.cross_entropy(outputs[1], targets)
        return nn.functional.cross_entropy(outputs, targets)

    def top1(outputs, targets):
        measured.append(tuple(outputs.shape))
        return (outputs.argmax(1) == targets).double().mean().item()

    model = AuxNet(named)
    history = fit(model, blobs(n=32), blobs(n=16, seed=1), epochs=3, optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
                  loss_fn=loss_fn, metrics={"accuracy": top1}, batch_size=16, progress=False)
    train_type = "Outputs" if named else "tuple"
    assert received == ([train_type] * 2 + ["Tensor"]) * 3  # 2 training batches, 1 validation batch per epoch
    assert set(measured) == {(16, 3)}  # metrics always see the logits
    assert history["train_accuracy"][-1] > 0.7 and history["val_accuracy"][-1] > 0.7


# ----------------------------------------------------------------------------- non-finite losses
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_loss_stops_naming_epoch_and_batch(bad):
    x, y = blobs(n=16).tensors
    x = x.clone()
    x[9, 0] = bad  # sample 9: batch 3 of 4 (batches of 4, in order)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    with pytest.raises(FloatingPointError, match=r"loss is (nan|inf) at epoch 1, batch 3 of 4"):
        train(data=loader, epochs=2)


def test_a_diverging_run_is_stopped_in_the_epoch_it_diverges():
    with pytest.raises(FloatingPointError, match=r"at epoch \d+, batch \d+ of 4.*smaller learning rate"):
        train(lr=1e30, epochs=5)


def test_a_non_finite_validation_loss_is_an_error():
    x, y = blobs(n=8).tensors
    x = x.clone()
    x[0, 0] = math.nan
    with pytest.raises(FloatingPointError, match="validation loss is nan at epoch 1"):
        train(val=TensorDataset(x, y), epochs=2)


# ----------------------------------------------------------------------------- devices
def test_select_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert select_device() == torch.device("cpu") == select_device("auto")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert select_device(None) == torch.device("mps") == select_device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device() == torch.device("cuda") == select_device("cuda")
    monkeypatch.setenv("CVCOURSE_DEVICE", "cpu")
    assert select_device() == torch.device("cpu")
    monkeypatch.setenv("CVCOURSE_DEVICE", "tpu")
    with pytest.raises(ValueError, match=r"CVCOURSE_DEVICE='tpu': unknown device; expected .*\"cpu\", \"cuda\""):
        select_device()


def test_select_device_explicit_choices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert select_device("CPU") == select_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA is not available"):
        select_device("cuda")
    with pytest.raises(ValueError, match="MPS is not available"):
        select_device(torch.device("mps"))
    with pytest.raises(ValueError, match=r"device='gpu': unknown device; expected \"auto\" \(or None\), \"cpu\""):
        select_device("gpu")
    with pytest.raises(TypeError, match="device: expected"):
        select_device(0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert select_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match="2 CUDA device"):
        select_device("cuda:2")


def test_fit_uses_the_chosen_device(monkeypatch):
    monkeypatch.setenv("CVCOURSE_DEVICE", "cpu")
    model, _ = train(epochs=1)
    assert next(model.parameters()).device == torch.device("cpu")
    with pytest.raises(ValueError, match="device='tpu'"):
        train(device="tpu")


# ----------------------------------------------------------------------------- progress
def test_progress_false_prints_nothing(capfd):
    train(val=blobs(seed=1), progress=False)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_progress_in_a_log_is_one_plain_line_per_epoch(capfd):
    train(val=blobs(seed=1), progress=True)  # stderr is not a terminal here
    out, err = capfd.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 2 and "\r" not in err
    assert re.fullmatch(r"epoch 1/2: train_loss=\d\.\d{4} train_accuracy=\d\.\d{4} val_loss=\d\.\d{4} "
                        r"val_accuracy=\d\.\d{4} lr=0\.1 \(\d+\.\d s\)", lines[0])


def test_progress_bar_is_tqdm_text_with_maskable_timings(capfd, monkeypatch):
    # In Jupyter without ipywidgets the bar is tqdm's text bar, chosen without tqdm.auto's warning.
    monkeypatch.setattr(fit_module, "_in_notebook", lambda: True)
    monkeypatch.setattr(fit_module, "_has_widgets", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(val=blobs(seed=1), progress=True)
    err = capfd.readouterr().err
    final = [line.rsplit("\r", 1)[-1] for line in err.split("\n") if line]  # what a notebook shows
    assert len(final) == 2 and final[1].startswith("epoch 2/2: 100%|") and "4/4" in final[1]
    assert re.search(r"\], loss=\d\.\d{4}, accuracy=\d\.\d{4}, val_loss=\d\.\d{4}, val_accuracy=\d\.\d{4}$", final[1])
    sanitize = (ROOT / "tests" / "nbval_sanitize.cfg").read_text()
    pattern = re.search(r"\[tqdm\]\nregex: (.*)\n", sanitize).group(1)
    assert re.match(r"epoch 2/2: 100%\|.{10}\| 4/4 \[<TQDM>\], loss=", re.sub(pattern, "[<TQDM>]", final[1]))


def test_progress_bar_is_a_widget_in_jupyter_with_ipywidgets(monkeypatch):
    monkeypatch.setattr(fit_module, "_in_notebook", lambda: True)
    monkeypatch.setattr(fit_module, "_has_widgets", lambda: True)
    pytest.importorskip("ipywidgets")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit_module._tqdm().__module__ == "tqdm.notebook"
    monkeypatch.setattr(fit_module, "_in_notebook", lambda: False)
    assert fit_module._tqdm().__module__ == "tqdm.std"  # a terminal


def test_progress_mode_from_the_environment(capfd, monkeypatch):
    monkeypatch.setenv("CVCOURSE_PROGRESS", "off")
    train(progress=True)
    assert capfd.readouterr().err == ""
    monkeypatch.setenv("CVCOURSE_PROGRESS", "bar")
    train(progress=True)
    assert "100%|" in capfd.readouterr().err
    train(progress="lines")  # an explicit mode wins over the environment
    assert capfd.readouterr().err.startswith("epoch 1/2: train_loss=")
    train(progress=False)
    assert capfd.readouterr().err == ""
    monkeypatch.setenv("CVCOURSE_PROGRESS", "loud")
    with pytest.raises(ValueError, match=r"CVCOURSE_PROGRESS='loud': expected one of \('bar', 'lines', 'off'\)"):
        train(progress=True)


# ----------------------------------------------------------------------------- History and its plot
def test_history_api():
    h = History()
    h.append({"train_loss": 1.0, "val_loss": 0.9})
    h.append({"train_loss": 0.5, "val_loss": 1.2})
    assert h["train_loss"] == [1.0, 0.5] and "val_loss" in h and len(h) == 2
    assert h.best("val_loss") == (1, 0.9) and h.best("val_loss", "max").epoch == 2
    assert History.from_dict(h.to_dict()) == h and h.to_dict() is not h.data
    with pytest.raises(KeyError, match=r"no 'val_accuracy'; it has \['train_loss', 'val_loss'\]"):
        h["val_accuracy"]
    with pytest.raises(ValueError, match="mode"):
        h.best("val_loss", "lowest")
    with pytest.raises(ValueError, match="expected the keys"):
        h.append({"train_loss": 0.1})
    with pytest.raises(ValueError, match="no number"):
        History({"x": [math.nan]}).best("x")


def test_plot_history_draws_train_and_val_per_panel():
    _, history = train(val=blobs(seed=1), epochs=3)
    fig = plot_history(history)
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    for ax, key in zip(fig.axes, ["loss", "accuracy"], strict=True):
        assert [line.get_label() for line in ax.get_lines()] == ["train", "val"]
        assert list(ax.get_lines()[1].get_xdata()) == [1, 2, 3]
        assert list(ax.get_lines()[1].get_ydata()) == history[f"val_{key}"]
    fig = plot_history(history.to_dict(), keys=["lr", "train_loss"])
    assert [[line.get_label() for line in ax.get_lines()] for ax in fig.axes] == [["lr"], ["train_loss"]]


def test_plot_history_bad_input():
    with pytest.raises(ValueError, match=r"'top5' is not in the history; it has \['train_loss'\]"):
        plot_history(History({"train_loss": [1.0]}), keys=["top5"])
    with pytest.raises(ValueError, match="no epoch"):
        plot_history(History())
    with pytest.raises(TypeError, match="history: expected a History"):
        plot_history([1.0, 2.0])


# ----------------------------------------------------------------------------- bad input
def _bad_cases():
    model = mlp()
    other = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ce = nn.CrossEntropyLoss()
    base = dict(model=model, train_data=blobs(), epochs=1, optimizer=opt, loss_fn=ce, progress=False)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
    return [
        (dict(model="mlp"), TypeError, "model: expected a torch.nn.Module"),
        (dict(epochs=0), ValueError, r"epochs: expected an int >= 1, got 0"),
        (dict(epochs=2.0), TypeError, "epochs: expected an int"),
        (dict(optimizer="sgd"), TypeError, "optimizer: expected a torch.optim.Optimizer"),
        (dict(optimizer=torch.optim.SGD(other.parameters(), lr=0.1)), ValueError, "none of its parameters belongs"),
        (dict(loss_fn="ce"), TypeError, "loss_fn: expected a callable"),
        (dict(loss_fn=nn.CrossEntropyLoss(reduction="none")), ValueError, r"loss_fn: expected a scalar tensor.*\(64,\)"),
        (dict(metrics=("accuracy", "f1")), ValueError, r"unknown metric 'f1'; known names are \['accuracy'\]"),
        (dict(metrics={"loss": lambda o, t: 0.0}), ValueError, "'loss' is always recorded"),
        (dict(metrics={"x": 3}), TypeError, "metrics: expected a dict name -> callable"),
        (dict(metrics=3), TypeError, "metrics: expected names"),
        (dict(scheduler=3), TypeError, "scheduler: expected a torch.optim.lr_scheduler"),
        (dict(scheduler=torch.optim.lr_scheduler.StepLR(torch.optim.SGD(model.parameters(), lr=0.1), 1)),
         ValueError, "scheduler: it steps another optimizer"),
        (dict(scheduler=plateau, scheduler_step="batch"), ValueError, "ReduceLROnPlateau needs"),
        (dict(scheduler_step="step"), ValueError, "scheduler_step: expected 'epoch' or 'batch'"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(num_workers=-1), ValueError, "num_workers"),
        (dict(callbacks=[print]), TypeError, r"callbacks\[0\]: expected a Callback"),
        (dict(callbacks=3), TypeError, "callbacks: expected a list"),
        (dict(progress="verbose"), ValueError, "progress: expected True"),
        (dict(clip_grad_norm=0), ValueError, "clip_grad_norm"),
        (dict(checkpoint=3), TypeError, "checkpoint: expected a path"),
        (dict(resume="no/such/file.pt"), FileNotFoundError, r"resume: no checkpoint at 'no/such/file.pt'"),
        (dict(train_data=[(1, 2)]), TypeError, "train_data: expected a torch Dataset"),
        (dict(train_data=TensorDataset(torch.zeros(0, 4), torch.zeros(0))), ValueError, "train_data: the dataset is empty"),
        (dict(val_data=torch.zeros(3)), TypeError, "val_data: expected a torch Dataset"),
        (dict(train_data=TensorDataset(torch.zeros(4, 4))), TypeError, r"train_data: each batch must be an \(inputs, targets\) pair"),
        (dict(train_data=TensorDataset(torch.zeros(4, 4), torch.zeros(4, 2, 5).long()), loss_fn=lambda o, t: o.sum()),
         ValueError, r"accuracy: expected logits Tensor\[N, C\] and class indices Tensor\[N\], got outputs \(4, 3\)"),
    ], base


@pytest.mark.parametrize("case", range(len(_bad_cases()[0])))
def test_bad_fit_arguments(case):
    cases, base = _bad_cases()
    change, error, match = cases[case]
    with pytest.raises(error, match=match):
        fit(**{**base, **change})


def test_metrics_can_be_none_or_a_name():
    assert train(metrics=None)[1].keys() == ["train_loss", "lr", "seconds"]
    assert train(metrics="accuracy")[1].keys() == ["train_loss", "train_accuracy", "lr", "seconds"]


def test_clip_grad_norm_limits_the_step():
    model = mlp()
    before = [p.detach().clone() for p in model.parameters()]
    train(model, lr=1.0, epochs=1, batch_size=64, clip_grad_norm=1e-3,
          optimizer=torch.optim.SGD(model.parameters(), lr=1.0))
    step = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before, strict=True)])
    assert step.norm() <= 1e-3 * (1 + 1e-5)


# ----------------------------------------------------------------------------- loss_fn=None: models that return their losses
class _TwoLosses(nn.Module):
    """A toy detector-style model: model(x, targets) -> {"loss_a", "loss_b"} in training (targets a
    list of dicts, as detection data come), logits in eval mode."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(4, 3)
        self.seen = []

    def forward(self, x, targets=None):
        out = self.net(x)
        if not self.training:
            return out
        self.seen.append(targets)
        y = torch.stack([t["label"] for t in targets])
        return {"loss_a": nn.functional.cross_entropy(out, y), "loss_b": 0.1 * out.pow(2).mean()}


def _dict_batches(n=32, batch=8):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)
    x[torch.arange(n), y] += 2.0
    return [(x[i:i + batch], [{"label": y[j]} for j in range(i, i + batch)]) for i in range(0, n, batch)]


def _fit_losses(model, **kwargs):
    kwargs.setdefault("optimizer", torch.optim.SGD(model.parameters(), lr=0.2))
    return fit(model, DataLoader(_dict_batches(), batch_size=None), epochs=kwargs.pop("epochs", 3), loss_fn=None,
               progress=False, **kwargs)


def test_loss_fn_none_minimises_the_sum_of_the_models_named_losses():
    model = _TwoLosses()
    history = _fit_losses(model)
    assert history.keys() == ["train_loss", "train_loss_a", "train_loss_b", "lr", "seconds"]
    for a, b, total in zip(history["train_loss_a"], history["train_loss_b"], history["train_loss"], strict=True):
        assert total == pytest.approx(a + b, rel=1e-6)
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert isinstance(model.seen[0], list) and isinstance(model.seen[0][0]["label"], torch.Tensor)  # targets as given


def test_loss_fn_none_logs_sample_weighted_means_and_shows_each_loss(capfd):
    model = _TwoLosses()
    with torch.no_grad():
        x = torch.cat([b[0] for b in _dict_batches()])
        y = torch.stack([t["label"] for b in _dict_batches() for t in b[1]])
        expected = nn.functional.cross_entropy(model.net(x), y).item()
    history = fit(model, DataLoader(_dict_batches(), batch_size=None), epochs=1, loss_fn=None, progress="lines",
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.0))
    assert history["train_loss_a"][0] == pytest.approx(expected, rel=1e-6)
    assert "train_loss_a=" in capfd.readouterr().err


def test_loss_fn_none_resumes(tmp_path):
    straight = _fit_losses(_TwoLosses(), epochs=3)
    path = tmp_path / "last.pt"
    _fit_losses(_TwoLosses(), epochs=2, checkpoint=path)
    resumed = _fit_losses(_TwoLosses(), epochs=3, resume=path)
    assert resumed["train_loss_b"] == straight["train_loss_b"]


@pytest.mark.parametrize("change, match", [
    (dict(metrics=("accuracy",)), "metrics: with loss_fn=None the model returns its losses"),
    (dict(val_data=_dict_batches()), "val_data: with loss_fn=None"),
])
def test_loss_fn_none_refuses_metrics_and_val_data(change, match):
    with pytest.raises(ValueError, match=match):
        _fit_losses(_TwoLosses(), **change)


@pytest.mark.parametrize("returned, match", [
    (lambda out: out.sum(), "must return a non-empty dict of named scalar losses"),
    (lambda out: {}, "must return a non-empty dict"),
    (lambda out: {"loss": out.sum()}, "under a name other than 'loss'"),
    (lambda out: {"loss_a": out}, r"scalar tensor .* 'loss_a': Tensor\(8, 3\)"),
])
def test_loss_fn_none_checks_what_the_model_returns(returned, match):
    class Bad(_TwoLosses):
        def forward(self, x, targets=None):
            return returned(self.net(x))

    with pytest.raises(ValueError, match=match):
        _fit_losses(Bad())


def test_loss_fn_none_with_a_nan_loss_names_the_batch():
    class Nan(_TwoLosses):
        def forward(self, x, targets=None):
            return {"loss_a": self.net(x).sum() * float("nan")}

    with pytest.raises(FloatingPointError, match="epoch 1, batch 1"):
        _fit_losses(Nan())
