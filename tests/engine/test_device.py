"""train.device and the --ddp backend choice (bench/engine/device.py, bench/engine/distributed.py).

These run without a GPU: CUDA's presence is faked where the choice depends on it. What needs a real GPU
is in test_gpu.py (skipped here)."""
import pytest
import torch

from bench.cli import main
from bench.config import config_hash, hash_view, resolve
from bench.engine import distributed
from bench.engine.device import model_device, to_device, training_device
from bench.errors import ConfigError


def _fake_gpus(monkeypatch, n):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)


def test_device_key_keeps_old_ids_and_separates_gpu_runs():
    cpu = resolve({"model.name": "videopose3d"})
    assert cpu["train"]["device"] == "cpu" and "device" not in hash_view(cpu)["train"]
    ids = {config_hash(hash_view(resolve({"model.name": "videopose3d", "train.device": d})))
           for d in ("cpu", "cuda", "cuda:1", "auto")}
    assert len(ids) == 4
    for bad in ("gpu", "cuda:", "cuda:x", "", 0, "CPU"):
        with pytest.raises(ConfigError, match="train.device must be cpu, cuda, cuda:N or auto"):
            resolve({"train.device": bad})


def test_training_device_without_cuda(monkeypatch):
    _fake_gpus(monkeypatch, 0)
    assert training_device("cpu") == torch.device("cpu")
    assert training_device("auto") == torch.device("cpu")
    for setting in ("cuda", "cuda:0"):
        with pytest.raises(ConfigError, match=rf"train.device={setting} requested but CUDA is not available"):
            training_device(setting)


def test_training_device_spreads_processes_over_the_gpus(monkeypatch):
    _fake_gpus(monkeypatch, 2)
    assert [training_device("cuda", r) for r in range(4)] == [torch.device("cuda", i) for i in (0, 1, 0, 1)]
    assert training_device("auto", 1) == torch.device("cuda", 1)
    assert training_device("cuda:1", 0) == torch.device("cuda", 1)  # explicit index taken as it is
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert training_device("cuda") == torch.device("cuda", 1)  # torchrun's LOCAL_RANK
    with pytest.raises(ConfigError, match="train.device=cuda:2 does not exist: 2 CUDA device"):
        training_device("cuda:2")


@pytest.mark.parametrize("gpus, backend, device, nproc, expected", [
    (0, "auto", "cpu", 2, "gloo"),
    (0, "auto", "auto", 2, "gloo"),
    (2, "auto", "cpu", 2, "gloo"),       # GPUs present but the experiment trains on CPU
    (2, "auto", "cuda", 2, "nccl"),      # a GPU per process
    (2, "auto", "auto", 2, "nccl"),
    (1, "auto", "cuda", 2, "gloo"),      # two processes share one GPU: NCCL refuses that, gloo does not
    (2, "auto", "cuda:0", 2, "gloo"),    # all processes pinned to one GPU
    (1, "nccl", "cuda", 1, "nccl"),
    (1, "gloo", "cuda", 1, "gloo"),
])
def test_backend_choice(monkeypatch, gpus, backend, device, nproc, expected):
    _fake_gpus(monkeypatch, gpus)
    assert distributed.resolve_backend(backend, device, nproc) == expected


@pytest.mark.parametrize("gpus, device, nproc, needle", [
    (0, "cpu", 2, "needs CUDA tensors but train.device=cpu"),
    (2, "cpu", 2, "needs CUDA tensors but train.device=cpu"),
    (1, "cuda", 2, "one GPU per process: 2 processes but 1 GPU(s)"),
    (2, "cuda:1", 2, "puts all 2 on one"),
])
def test_nccl_refusals(monkeypatch, gpus, device, nproc, needle):
    _fake_gpus(monkeypatch, gpus)
    with pytest.raises(ConfigError) as e:
        distributed.resolve_backend("nccl", device, nproc)
    assert needle in str(e.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the errors raised without CUDA")
@pytest.mark.parametrize("argv, needle", [
    (["train", "videopose3d", "--device", "cuda", "--epochs", "1"], "train.device=cuda requested but CUDA is not available"),
    (["train", "videopose3d", "--device", "cuda", "--ddp"], "train.device=cuda requested but CUDA is not available"),
    (["train", "videopose3d", "--device", "gpu"], "train.device must be cpu, cuda, cuda:N or auto"),
    (["train", "videopose3d", "--ddp", "--backend", "nccl", "--device", "cuda"], "CUDA is not available"),
])
def test_cli_device_errors_are_one_line_and_write_nothing(capsys, tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(distributed, "launch", lambda *_: pytest.fail("torchrun must not be started"))
    for var in ("LOCAL_RANK", "WORLD_SIZE", "RANK"):
        monkeypatch.delenv(var, raising=False)
    code = main([*argv, "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err and needle in err, err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()


def test_to_device_and_model_device_on_cpu():
    x = torch.ones(2)
    assert to_device(torch.device("cpu"), x, None)[0] is x  # no copy on CPU
    assert to_device(torch.device("cpu"), x, None)[1] is None
    assert model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")
