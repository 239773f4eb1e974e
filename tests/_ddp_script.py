"""Worker of tests/test_train_distributed.py: `torchrun --standalone --nproc_per_node=2 tests/_ddp_script.py OUT`
trains a tiny classifier with `fit` under DDP (gloo, CPU) and saves each rank's final weights and
History to OUT/rank{R}.pt. The test imports the same builders to train the single-process reference.
"""
import os
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cvcourse.train import fit

N, FEATURES, CLASSES = 32, 6, 3
PER_RANK_BATCH, WORLD, EPOCHS, SEED = 4, 2, 2, 0


def make_data() -> TensorDataset:
    g = torch.Generator().manual_seed(123)
    return TensorDataset(torch.randn(N, FEATURES, generator=g), torch.randint(0, CLASSES, (N,), generator=g))


def make_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(FEATURES, 8), nn.Tanh(), nn.Linear(8, CLASSES))


def make_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)


class GlobalBatches:
    """The global batches of a DDP run, for one process: epoch e (from 1) shuffles like DistributedSampler
    (randperm seeded with SEED + e); rank r takes positions r, r + WORLD, ...; so its k-th batch and the
    other ranks' k-th batches together are the contiguous slice k of the permutation."""

    def __init__(self) -> None:
        self.epoch = 0

    def __iter__(self):
        self.epoch += 1
        perm = torch.randperm(N, generator=torch.Generator().manual_seed(SEED + self.epoch)).tolist()
        size = WORLD * PER_RANK_BATCH
        return iter([perm[i:i + size] for i in range(0, N, size)])

    def __len__(self) -> int:
        return N // (WORLD * PER_RANK_BATCH)


if __name__ == "__main__":
    out, rank = Path(sys.argv[1]), int(os.environ["RANK"])
    model = make_model(seed=7 + rank)  # DDP must broadcast rank 0's weights
    history = fit(model, DataLoader(make_data(), batch_size=PER_RANK_BATCH), make_data(), epochs=EPOCHS,
                  optimizer=make_optimizer(model), loss_fn=nn.CrossEntropyLoss(), device="cpu", seed=SEED,
                  checkpoint=out / "last.pt", progress="lines")
    torch.save({"model": model.state_dict(), "history": history.to_dict()}, out / f"rank{rank}.pt")
