"""cvcourse.train.fit_onecycle: the detection chapters' recipe (AdamW, one-cycle, loss dicts)."""
import pytest
import torch
from torch import nn

from cvcourse.train import fit_onecycle


class _LossModel(nn.Module):
    """A linear regressor that returns its loss as a dict, as detection models do."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)
        self.norm = nn.BatchNorm1d(3)

    def forward(self, x, y):
        return {"loss_mse": (self.linear(self.norm(x)).squeeze(1) - y).pow(2).mean()}


def _data(n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=g)
    return [(x[i], x[i] @ torch.tensor([1.0, -2.0, 0.5])) for i in range(n)]


@pytest.mark.parametrize("decay_norms", [True, False])
def test_trains_seeded_and_steps_the_schedule(decay_norms):
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = _LossModel()
        history = fit_onecycle(model, _data(), epochs=10, batch_size=16, lr=0.2, weight_decay=1e-4,
                               decay_norms=decay_norms, progress=False)
        runs.append(history["train_loss"])
    assert runs[0] == runs[1]                                     # seeded
    assert runs[0][-1] < 0.2 * runs[0][0]                         # it learns
    assert set(history.keys()) >= {"train_loss", "train_loss_mse", "lr"}
    assert max(history["lr"]) <= 0.2 and history["lr"][-1] < 0.01   # warm-up to the peak, then decay


def test_norms_and_biases_skip_weight_decay():
    torch.manual_seed(0)
    model = _LossModel()
    with torch.no_grad():                                         # a zero learning rate leaves only... nothing
        model.linear.bias.fill_(1.0)
    fit_onecycle(model, _data(), epochs=1, batch_size=16, lr=1e-8, weight_decay=1e6, decay_norms=False,
                 progress=False)
    assert model.linear.bias.item() == pytest.approx(1.0, abs=1e-3)   # no decay on a bias
    assert model.linear.weight.abs().max() < 1.0                     # decayed hard
