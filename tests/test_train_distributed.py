"""cvcourse.train.distributed: `fit` under torchrun (2 CPU processes, gloo) ends with the weights of
one process trained on the same global batches; only rank 0 logs and saves; the helpers on one process."""
import importlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Subset, TensorDataset

from cvcourse.train import distributed, fit, load_checkpoint
from cvcourse.train.distributed import (
    DistContext,
    all_reduce_sum,
    close_distributed,
    init_distributed,
    is_launched,
)

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "_ddp_script.py"
fit_module = importlib.import_module("cvcourse.train.fit")
sys.path.insert(0, str(SCRIPT.parent))
import _ddp_script as ddp  # noqa: E402


@pytest.fixture
def single_process(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def _run_launcher(cmd: list[str], env: dict[str, str], timeout: float = 150) -> subprocess.CompletedProcess:
    """Run torchrun in its own process group; on a timeout kill the launcher and its workers (none is
    left behind) and try once more: once, on a heavily loaded machine, a worker stalled at shutdown.
    A second timeout fails the test; a wrong result is never retried."""
    for attempt in (1, 2):
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
            return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            if attempt == 2:
                pytest.fail(f"torchrun did not finish in {timeout} s (twice)\n{out[-2000:]}\n{err[-4000:]}")
    raise AssertionError("unreachable")


@pytest.mark.slow
def test_two_processes_match_one_process_on_the_global_batches(tmp_path):
    # The launcher and its 2 workers inherit the harness's network guard: gloo talks over loopback only.
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(SCRIPT), str(tmp_path)]
    proc = _run_launcher(cmd, env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    # One process, one optimizer step per global batch (2 x 4 samples), starting from rank 0's weights.
    model = ddp.make_model(seed=7)
    reference = fit(model, DataLoader(ddp.make_data(), batch_sampler=ddp.GlobalBatches()), ddp.make_data(),
                    epochs=ddp.EPOCHS, optimizer=ddp.make_optimizer(model), loss_fn=nn.CrossEntropyLoss(),
                    device="cpu", seed=ddp.SEED, progress=False)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for name, expected in model.state_dict().items():
        assert torch.equal(ranks[0]["model"][name], ranks[1]["model"][name]), name  # DDP keeps ranks identical
        torch.testing.assert_close(ranks[0]["model"][name], expected, atol=1e-6, rtol=0)
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
        assert ranks[0]["history"][key] == ranks[1]["history"][key], key  # logged numbers are global averages
        torch.testing.assert_close(torch.tensor(ranks[0]["history"][key]), torch.tensor(reference[key]), atol=1e-6, rtol=0)

    saved = ddp.make_model(seed=0)
    assert load_checkpoint(tmp_path / "last.pt", saved)["epoch"] == ddp.EPOCHS  # written by rank 0
    assert all(torch.equal(a, b) for a, b in zip(saved.state_dict().values(), ranks[0]["model"].values(), strict=True))
    logged = [line for line in proc.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in logged] == ["epoch 1/2", "epoch 2/2"]  # rank 0 only


def test_single_process_is_not_distributed(single_process, monkeypatch):
    assert not is_launched() and init_distributed() is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not is_launched()
    values = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert torch.equal(all_reduce_sum(values, None), values)
    close_distributed(None)


def test_init_distributed_errors(single_process, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert is_launched()
    with pytest.raises(ValueError, match="RANK is not set: start the script with torchrun"):
        init_distributed(torch.device("cpu"))
    with pytest.raises(ValueError, match="DistributedDataParallel runs on 'cpu' \\(gloo\\) or 'cuda' \\(nccl\\)"):
        init_distributed(torch.device("mps"))
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE: expected an int, got 'two'"):
        is_launched()


def _ctx(rank):
    return DistContext(rank=rank, world_size=2, local_rank=rank, device=torch.device("cpu"), owns_group=False)


def test_each_process_gets_its_shard():
    data = TensorDataset(torch.arange(5.0), torch.arange(5))
    gen = torch.Generator().manual_seed(0)
    train = fit_module._loader(data, "train_data", 2, True, gen, _ctx(1), 3, 0, False)
    assert isinstance(train.sampler, DistributedSampler) and train.sampler.seed == 3 and train.sampler.rank == 1
    assert len(train.sampler) == 3  # 5 samples padded to 6: every process takes as many steps
    val = fit_module._loader(data, "val_data", 2, False, gen, _ctx(1), 3, 0, False)
    assert isinstance(val.dataset, Subset) and list(val.dataset.indices) == [1, 3]  # no padding: none counts twice
    rebuilt = fit_module._loader(DataLoader(data, batch_size=4), "train_data", 2, True, gen, _ctx(0), 3, 0, False)
    assert rebuilt.batch_size == 4 and isinstance(rebuilt.sampler, DistributedSampler)
    custom = DataLoader(data, batch_sampler=[[0, 1], [2, 3, 4]])
    with pytest.raises(ValueError, match="train_data: under DDP a DataLoader is rebuilt .* pass the Dataset"):
        fit_module._loader(custom, "train_data", 2, True, gen, _ctx(0), 3, 0, False)
    assert fit_module._loader(custom, "train_data", 2, True, gen, None, 3, 0, False) is custom  # one process: as is


def test_module_docstring_names_the_launch_command():
    assert "torchrun --nproc_per_node=N" in distributed.__doc__
    assert "torchrun --standalone --nproc_per_node=2 train.py" in fit.__doc__
