"""cvcourse.train.checkpoint and fit(checkpoint=, resume=): a resumed run is bitwise the uninterrupted
run (weights, optimizer, scheduler, RNG, shuffling), files load with weights_only=True, errors are named."""
import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cvcourse.train import Callback, EarlyStopping, ModelCheckpoint, fit, load_checkpoint, save_checkpoint
from cvcourse.train.checkpoint import FORMAT

NO_TIME = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")


def data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 4, generator=g)
    x[torch.arange(n), y] += 1.5
    return TensorDataset(x, y)


def parts(kind, init_seed):
    """A model with dropout (the global RNG matters) and an optimizer/scheduler with state."""
    torch.manual_seed(init_seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    if kind == "adam+onecycle":
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        return model, opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=4 * 3), "batch"
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt, torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7), "epoch"


def loader():
    # a DataLoader of the user's own, shuffling with its own generator (saved and restored too)
    return DataLoader(data(), batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(1))


def run(kind, epochs, train_data, init_seed=0, **kwargs):
    model, opt, sched, step = parts(kind, init_seed)
    history = fit(model, train_data() if callable(train_data) else train_data, data(seed=1), epochs=epochs,
                  optimizer=opt, scheduler=sched, scheduler_step=step, loss_fn=nn.CrossEntropyLoss(),
                  batch_size=16, seed=3, progress=False, **kwargs)
    return model, opt, history


@pytest.mark.parametrize("kind, train_data", [
    ("sgd+steplr", data), ("adam+onecycle", data), ("sgd+steplr", loader),
], ids=["sgd-steplr-dataset", "adam-onecycle-per-batch", "user-dataloader"])
def test_resume_continues_the_same_run_bitwise(tmp_path, kind, train_data):
    straight, straight_opt, full = run(kind, 4, train_data)
    path = tmp_path / "last.pt"
    run(kind, 2, train_data, checkpoint=path)
    # a fresh model (another initialization), optimizer and scheduler; a new process would be the same
    torch.manual_seed(12345)
    np.random.seed(1)
    random.seed(1)
    resumed, resumed_opt, history = run(kind, 4, train_data, init_seed=99, resume=path, checkpoint=path)
    assert len(history) == 4
    for key in NO_TIME:
        assert history[key] == full[key], key
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert straight_opt.state_dict()["param_groups"] == resumed_opt.state_dict()["param_groups"]
    assert load_checkpoint(path, parts(kind, 0)[0])["epoch"] == 4


def test_checkpoint_is_written_after_every_epoch(tmp_path):
    path = tmp_path / "runs" / "last.pt"  # missing folders are created

    class Probe(Callback):
        def __init__(self):
            self.epochs = []

        def on_epoch_end(self, epoch, logs, state):
            saved = load_checkpoint(path, nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(), nn.Linear(16, 3)))
            self.epochs.append((saved["epoch"], len(saved["history"]["train_loss"])))

    probe = Probe()
    run("sgd+steplr", 3, data, checkpoint=path, callbacks=[probe])
    assert probe.epochs == [(1, 1), (2, 2), (3, 3)]
    assert not list(path.parent.glob("*.tmp"))  # written atomically: no temporary file is left


def test_resume_at_or_past_the_last_epoch_trains_nothing(tmp_path):
    path = tmp_path / "last.pt"
    model, _, history = run("sgd+steplr", 2, data, checkpoint=path)
    resumed, _, again = run("sgd+steplr", 2, data, init_seed=5, resume=path)
    assert again.to_dict() == history.to_dict()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), resumed.state_dict().values(), strict=True))


def test_resume_with_other_logs_is_refused(tmp_path):
    path = tmp_path / "last.pt"
    run("sgd+steplr", 1, data, checkpoint=path)
    model, opt, sched, _ = parts("sgd+steplr", 0)
    with pytest.raises(ValueError, match=r"resume: the checkpoint's history has .*'val_loss'.* but this run logs "
                                         r"\['lr', 'seconds', 'train_accuracy', 'train_loss'\]"):
        fit(model, data(), epochs=2, optimizer=opt, scheduler=sched, loss_fn=nn.CrossEntropyLoss(), resume=path,
            progress=False)


def test_callbacks_continue_after_a_resume(tmp_path):
    # The val labels are flipped, so val_loss is best at epoch 1; patience 2 would stop at epoch 3.
    flipped = TensorDataset(data(seed=1).tensors[0], 2 - data(seed=1).tensors[1])
    path, best = tmp_path / "last.pt", tmp_path / "best.pt"

    def go(epochs, **kwargs):
        model, opt, sched, _ = parts("sgd+steplr", 0)
        keep = ModelCheckpoint(best)
        history = fit(model, data(), flipped, epochs=epochs, optimizer=opt, scheduler=sched, loss_fn=nn.CrossEntropyLoss(),
                      batch_size=16, progress=False, callbacks=[EarlyStopping(patience=2), keep], **kwargs)
        return history, keep

    go(2, checkpoint=path)
    history, keep = go(10, resume=path)
    assert len(history) == 3 and keep.best_epoch == 1
    assert load_checkpoint(best, parts("sgd+steplr", 0)[0])["epoch"] == 1  # not overwritten after the resume


# ----------------------------------------------------------------------------- save / load
def test_save_load_roundtrip_restores_everything(tmp_path):
    model, opt, sched, _ = parts("sgd+steplr", 0)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    sched.step()
    gen = torch.Generator().manual_seed(8)
    torch.manual_seed(4)
    np.random.seed(4)
    random.seed(4)
    path = save_checkpoint(tmp_path / "c.pt", model, opt, sched, epoch=7, history={"train_loss": [1.0]}, generator=gen)
    expected = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=gen))

    raw = torch.load(path, weights_only=True)  # only tensors, numbers, strings and containers
    assert raw["format"] == FORMAT and raw["epoch"] == 7

    other, other_opt, other_sched, _ = parts("sgd+steplr", 1)
    torch.manual_seed(0)
    gen2 = torch.Generator()
    state = load_checkpoint(path, other, other_opt, other_sched, restore_rng=True, generator=gen2)
    assert state["epoch"] == 7 and state["history"] == {"train_loss": [1.0]}
    got = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=gen2))
    assert torch.equal(got[0], expected[0]) and (got[1] == expected[1]).all() and got[2] == expected[2]
    assert torch.equal(got[3], expected[3])
    assert other_sched.state_dict() == sched.state_dict()
    assert torch.equal(other_opt.state_dict()["state"][0]["momentum_buffer"], opt.state_dict()["state"][0]["momentum_buffer"])
    for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_load_without_restore_rng_leaves_the_generators_alone(tmp_path):
    model = nn.Linear(2, 2)
    path = save_checkpoint(tmp_path / "c.pt", model, epoch=0)
    target = nn.Linear(2, 2)
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    load_checkpoint(path, target)
    assert torch.equal(torch.rand(2), expected)


def test_a_wrapped_model_is_saved_without_the_module_prefix(tmp_path):
    model = nn.Linear(2, 2)
    path = save_checkpoint(tmp_path / "c.pt", nn.DataParallel(model), epoch=1)
    assert set(torch.load(path, weights_only=True)["model"]) == {"weight", "bias"}
    target = nn.Linear(2, 2)
    load_checkpoint(path, nn.DataParallel(target))
    assert torch.equal(target.weight, model.weight)


def test_checkpoint_errors(tmp_path):
    model = nn.Linear(2, 2)
    with pytest.raises(FileNotFoundError, match=r"path: no checkpoint at '.*missing\.pt'"):
        load_checkpoint(tmp_path / "missing.pt", model)
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="is not a cvcourse checkpoint"):
        load_checkpoint(tmp_path / "bare.pt", model)
    path = save_checkpoint(tmp_path / "c.pt", model, epoch=1)
    with pytest.raises(ValueError, match="optimizer: .* holds no optimizer state"):
        load_checkpoint(path, model, torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_checkpoint(path, nn.Linear(3, 2))
    with pytest.raises(ValueError, match="epoch: expected an int >= 0"):
        save_checkpoint(path, model, epoch=-1)
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module"):
        save_checkpoint(path, model.state_dict(), epoch=1)
    with pytest.raises(TypeError, match="optimizer: expected a torch.optim.Optimizer"):
        save_checkpoint(path, model, "sgd", epoch=1)
    with pytest.raises(TypeError, match="scheduler: expected"):
        save_checkpoint(path, model, None, 0.5, epoch=1)
    with pytest.raises(TypeError, match="generator: expected a torch.Generator"):
        save_checkpoint(path, model, epoch=1, generator=3)
    with pytest.raises(TypeError, match="path: expected a str or a path"):
        save_checkpoint(3, model, epoch=1)
