"""`cvcourse.train.experiments`: `compare_training` trains every network under identical conditions
(weights from one seed, one data order) and returns their histories; `layer_gradient_norms` measures
each layer's weight gradient on one batch and leaves the model as it was. Tiny networks and data sets."""
import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from cvcourse.models import plainnet_cifar, resnet_cifar
from cvcourse.train import History, fit
from cvcourse.train.experiments import compare_training, layer_gradient_norms, plot_comparison


def _data(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g))


def _tiny(width=4):
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(width, 3))


def _compare(factories, **kwargs):
    args = {"epochs": 2, "lr": 0.1, "batch_size": 8, "seed": 3, "progress": False} | kwargs
    return compare_training(factories, _data(), **args)


# ----------------------------------------------------------------------------- compare_training
def test_compare_training_returns_one_history_per_network_in_order():
    histories = _compare({"wide": lambda: _tiny(6), "narrow": _tiny})
    assert list(histories) == ["wide", "narrow"]
    for h in histories.values():
        assert isinstance(h, History) and len(h) == 2
        assert set(h.keys()) == {"train_loss", "train_accuracy", "lr", "seconds"}
        assert all(math.isfinite(v) for v in h["train_loss"])
    assert histories["wide"]["lr"] == [0.1, 0.1]


def test_identical_networks_get_identical_histories():
    """Same seed for the weights and the data order: two copies of one network train identically."""
    histories = _compare({"a": _tiny, "b": _tiny})
    assert histories["a"]["train_loss"] == histories["b"]["train_loss"]
    assert histories["a"]["train_accuracy"] == histories["b"]["train_accuracy"]


def test_compare_training_is_fit_with_sgd_after_seeding():
    """The same numbers as building the network after torch.manual_seed(seed) and calling fit."""
    got = _compare({"net": _tiny}, momentum=0.5, weight_decay=1e-3)["net"]
    torch.manual_seed(3)
    model = _tiny()
    want = fit(model, _data(), epochs=2, optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5,
                                                                  weight_decay=1e-3),
               loss_fn=nn.CrossEntropyLoss(), metrics=("accuracy",), batch_size=8, seed=3, progress=False)
    assert got["train_loss"] == want["train_loss"] and got["train_accuracy"] == want["train_accuracy"]


def test_a_different_seed_gives_different_histories():
    a = _compare({"net": _tiny}, seed=1)["net"]["train_loss"]
    b = _compare({"net": _tiny}, seed=2)["net"]["train_loss"]
    assert a != b


def test_the_networks_are_built_after_seeding():
    firsts = []

    def recording():
        model = _tiny()
        firsts.append(model[0].weight.detach().clone())
        return model

    _compare({"a": recording, "b": recording}, epochs=1)
    assert torch.equal(firsts[0], firsts[1])


def test_compare_training_trains_the_cifar_nets():
    """The chapter's use: a plain and a residual CIFAR net on 16x16 images."""
    data = TensorDataset(torch.randn(8, 3, 16, 16), torch.randint(0, 4, (8,)))
    histories = compare_training({"plain-8": lambda: plainnet_cifar(8, 4, width=4),
                                  "resnet-8": lambda: resnet_cifar(8, 4, width=4)},
                                 data, epochs=1, lr=0.01, batch_size=4, progress=False)
    assert [len(h) for h in histories.values()] == [1, 1]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"factories": {}}, TypeError, r"factories: expected a non-empty dict"),
    ({"factories": [_tiny]}, TypeError, r"factories: expected a non-empty dict .* got list"),
    ({"factories": {"a": 3}}, TypeError, r"factories: expected str -> callable, got 'a': int"),
    ({"factories": {1: _tiny}}, TypeError, r"factories: expected str -> callable, got 1"),
    ({"factories": {"a": lambda: 3}}, TypeError, r"factories\['a'\]: expected a callable returning an nn.Module, got int"),
    ({"lr": 0.0}, ValueError, r"lr: expected a float > 0, got 0.0"),
    ({"lr": "0.1"}, TypeError, r"lr: expected a float > 0, got str"),
    ({"lr": True}, TypeError, r"lr: expected a float > 0, got bool"),
    ({"momentum": 1.0}, ValueError, r"momentum: expected a float in \[0, 1\), got 1.0"),
    ({"weight_decay": -1e-4}, ValueError, r"weight_decay: expected a float >= 0"),
    ({"epochs": 0}, ValueError, r"epochs: expected an int >= 1, got 0"),
    ({"batch_size": 2.0}, TypeError, r"batch_size: expected an int"),
    ({"seed": -1}, ValueError, r"seed: expected an int >= 0"),
])
def test_compare_training_bad_input(kwargs, error, match):
    args = {"factories": {"net": _tiny}, "train_data": _data(), "epochs": 1, "lr": 0.1, "batch_size": 8,
            "progress": False} | kwargs
    with pytest.raises(error, match=match):
        compare_training(**args)


# ----------------------------------------------------------------------------- plot_comparison
def test_plot_comparison_draws_one_line_per_run():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {"a": History({"train_loss": [3.0, 2.0, 1.0]}), "b": History({"train_loss": [3.0, 2.5]})}
    fig = plot_comparison(runs)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["a", "b"]
    assert list(lines[0].get_xdata()) == [1, 2, 3] and list(lines[1].get_ydata()) == [3.0, 2.5]
    assert fig.axes[0].get_ylabel() == "train loss"
    plt.close(fig)


@pytest.mark.parametrize("histories, key, error, match", [
    ({}, "train_loss", TypeError, r"histories: expected a non-empty dict name -> History"),
    ({"a": {"train_loss": [1.0]}}, "train_loss", TypeError, r"histories: expected"),
    ({"a": History({"train_loss": [1.0]})}, "val_loss", ValueError, r"key: run 'a' has no 'val_loss'; it has \['train_loss'\]"),
])
def test_plot_comparison_bad_input(histories, key, error, match):
    with pytest.raises(error, match=match):
        plot_comparison(histories, key)


# ----------------------------------------------------------------------------- layer_gradient_norms
def test_gradient_norms_golden():
    """loss = out.sum() for out = x W^T: d loss / dW[i, :] = sum of the rows of x, for every output i,
    so the norm is sqrt(out_features) * ||sum of the rows of x||."""
    model = nn.Sequential(nn.Linear(2, 3, bias=False))
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]])                  # rows sum to (4, 1)
    norms = layer_gradient_norms(model, x, torch.zeros(2), loss_fn=lambda out, t: out.sum())
    assert list(norms) == ["0"]
    assert norms["0"] == pytest.approx(math.sqrt(3) * math.sqrt(17))


def test_gradient_norms_equal_a_manual_backward_pass():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    x, y = torch.randn(5, 3, 6, 6), torch.tensor([0, 1, 2, 0, 1])
    norms = layer_gradient_norms(model, x, y)
    assert list(norms) == ["0", "3", "6"]                           # conv, conv, linear; in order
    nn.functional.cross_entropy(model(x), y).backward()
    want = [model[i].weight.grad.norm().item() for i in (0, 3, 6)]
    assert list(norms.values()) == pytest.approx(want)
    assert list(layer_gradient_norms(model, x, y, layer_types=(nn.BatchNorm2d,))) == ["1"]


def test_gradient_norms_leave_the_model_as_it_was():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    layer_gradient_norms(model, torch.randn(4, 3, 6, 6) + 5, torch.tensor([0, 1, 2, 0]))
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())   # running stats too


def test_an_unreached_layer_gets_zero():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.used(x)

    norms = layer_gradient_norms(TwoHeads(), torch.randn(3, 2), torch.tensor([0, 1, 0]))
    assert norms["unused"] == 0.0 and norms["used"] > 0


def test_plain_gradients_grow_toward_the_input_residual_ones_much_less():
    """The chapter's plot: at initialisation, BN plain nets' gradients explode toward the input
    (the first conv's gradient is far larger than the last's); the residual twin's stay close."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 3, 16, 16, generator=g), torch.randint(0, 4, (16,), generator=g)
    for seed in (0, 1):
        ratios = {}
        for name, make in (("plain", plainnet_cifar), ("resnet", resnet_cifar)):
            torch.manual_seed(seed)
            norms = list(layer_gradient_norms(make(44, 4, width=4), x, y, layer_types=(nn.Conv2d,)).values())
            ratios[name] = norms[0] / norms[-1]
        assert ratios["plain"] > 10 * ratios["resnet"], ratios


@pytest.mark.parametrize("kwargs, error, match", [
    ({"model": lambda x: x}, TypeError, r"model: expected an nn.Module, got function"),
    ({"loss_fn": lambda out, t: out}, TypeError, r"loss_fn: expected a scalar Tensor, got Tensor\[3, 2\]"),
])
def test_gradient_norms_bad_input(kwargs, error, match):
    args = {"model": nn.Linear(2, 2), "inputs": torch.randn(3, 2), "targets": torch.tensor([0, 1, 0])} | kwargs
    with pytest.raises(error, match=match):
        layer_gradient_norms(**args)
