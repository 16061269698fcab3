"""Training, evaluation, data-parallel training and profiling on a CUDA GPU.

Skipped without CUDA (CI has none); run on a GPU machine with ``python -m pytest -m gpu -s``. The
``-s`` shows the measured CPU-vs-GPU gaps, which are reported rather than asserted: on a GPU dropout
draws from another random stream (CUDA's generator) and cuDNN / cuBLAS sum in another order, so a GPU
run is another experiment (another id), not a copy of the CPU one.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.contract import model_contract
from bench.golden import GOLDEN_DIR, load_golden
from bench.config import resolve
from bench.config import experiment_id
from bench.cells import execute
from bench.registry import create_model, list_models

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("model", list_models())
def test_eval_forward_on_cuda_matches_cpu(model):
    """Same weights, same input, inference mode, TF32 off: the GPU forward equals the CPU one up to the
    order of float sums (relative 1e-4 of the output's scale)."""
    g = load_golden(GOLDEN_DIR / f"{model}.yaml")
    cfg = resolve({"model.name": model}, g["experiment"])
    torch.manual_seed(0)
    net = create_model(model, **cfg["model"]["options"]).eval()
    with torch.no_grad():  # zero-initialised heads (DG-Net) would make the comparison vacuous
        for p in net.parameters():
            if not p.any():
                torch.nn.init.normal_(p, std=0.1)
    c = model_contract(net)
    shape = (4, c.receptive_field, c.num_joints_in, c.in_features)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    args = (torch.rand(4, shape[1], 5),) if c.needs_context else ()
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.inference_mode():
            cpu = net(x, *args)
            gpu = net.cuda()(x.cuda(), *(a.cuda() for a in args)).cpu()
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    assert gpu.shape == cpu.shape and cpu.abs().max() > 1e-3
    gap = (gpu - cpu).abs().max().item()
    print(f"\n{model}: forward max |gpu - cpu| = {gap:.2e} (output scale {cpu.abs().max().item():.2e})")
    assert gap <= 1e-4 * cpu.abs().max().item() + 1e-6


@pytest.mark.parametrize("model", list_models())
def test_golden_experiment_on_cuda_repeats_bit_for_bit_and_records_the_gpu(model, tmp_path):
    """Every model's golden (smoke) experiment trained and evaluated on the GPU twice: identical metrics
    (deterministic algorithms on, as seed_everything sets them), a record that names the GPU and every
    setting that decides GPU determinism, and an id of its own."""
    g = load_golden(GOLDEN_DIR / f"{model}.yaml")
    cfg = resolve({"model.name": model, "train.device": "cuda"}, g["experiment"])
    one = execute(cfg, runs_dir=tmp_path / "a")
    two = execute(cfg, runs_dir=tmp_path / "b")
    assert one["metrics"] == two["metrics"]
    assert one["params"] == g["expected"]["params"]
    det = one["determinism"]
    assert det["device"] == "cuda:0" and det["deterministic_algorithms"] and det["cudnn_deterministic"]
    assert not det["cudnn_benchmark"] and det["cublas_workspace_config"] == ":4096:8"
    assert "tf32_matmul" in det and "tf32_cudnn" in det and det["cuda"] == torch.version.cuda
    assert one["machine"]["device"] == "cuda:0" and one["machine"]["device_name"] == torch.cuda.get_device_name(0)
    cpu_cfg = resolve({"model.name": model}, g["experiment"])
    assert one["id"] != experiment_id(cpu_cfg, [{}])
    got, ref = one["metrics"][""], g["expected"]
    print(f"\n{model}: GPU mpjpe {got['mpjpe']:.3f} vs CPU golden {ref['mpjpe']:.3f} mm "
          f"(gap {got['mpjpe'] - ref['mpjpe']:+.3f}); p_mpjpe {got['p_mpjpe']:.3f} vs {ref['p_mpjpe']:.3f}; "
          f"wall {one['wall_time_s']:.1f} s")


def test_without_dropout_or_batchnorm_gpu_training_follows_cpu(tmp_path):
    """EDM without BatchNorm and dropout has no randomness after its (CPU-seeded) initialisation: the
    GPU run is the CPU run up to float rounding (TF32 off for matmul, torch's default). Allowed: 0.5 mm
    of a ~330 mm error after 3 epochs."""
    exp = {"model.name": "edm", "model.options.hidden_sizes": [64, 64], "model.options.batch_norm": False,
           "model.options.dropout": 0.0, "train.epochs": 3, "train.batch_size": 97, "train.window_stride": 8,
           "data.test_subjects": ["S9"], "eval.metrics": ["mpjpe"]}
    cpu = execute(resolve(exp), runs_dir=tmp_path / "cpu")["metrics"][""]["mpjpe"]
    gpu = execute(resolve({**exp, "train.device": "cuda"}), runs_dir=tmp_path / "gpu")["metrics"][""]["mpjpe"]
    print(f"\nedm without BN/dropout: CPU {cpu:.6f} mm, GPU {gpu:.6f} mm, gap {gpu - cpu:+.2e} mm")
    assert abs(gpu - cpu) < 0.5


# --------------------------------------------------------------------------- bench train --ddp on a GPU
def _train(argv, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "bench.cli", "train", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


def _record(runs: Path) -> dict:
    (path,) = sorted((runs / "adhoc" / "adhoc").glob("*.json"))
    return json.loads(path.read_text())


EDM_PLAIN = ["edm", "--epochs", "3", "--device", "cuda", "--set", "model.options.hidden_sizes=[64,64]",
             "--set", "model.options.batch_norm=false", "--set", "model.options.dropout=0",
             "--set", "train.batch_size=97", "--set", "train.window_stride=8", "--set", "data.test_subjects=[S9]"]


def test_ddp_on_cuda_matches_one_process(tmp_path):
    """2 processes on the GPU(s) (nccl with a GPU each, else gloo sharing one) vs 1: EDM without
    BatchNorm and dropout within 0.01 mm, as on CPU (test_distributed.py)."""
    one = _train([*EDM_PLAIN, "--runs-dir", str(tmp_path / "one"), "--checkpoint", str(tmp_path / "1.pt")],
                 tmp_path)
    assert one.returncode == 0, one.stderr[-3000:]
    two = _train([*EDM_PLAIN, "--runs-dir", str(tmp_path / "two"), "--checkpoint", str(tmp_path / "2.pt"),
                  "--ddp", "--nproc", "2"], tmp_path)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = _record(tmp_path / "one"), _record(tmp_path / "two")
    expected = "nccl" if torch.cuda.device_count() >= 2 else "gloo"
    assert b["distributed"] == {"world_size": 2, "backend": expected}
    assert b["determinism"]["device"] == "cuda:0"
    gap = b["metrics"][""]["mpjpe"] - a["metrics"][""]["mpjpe"]
    print(f"\nddp on cuda ({expected}, 2 processes) vs 1: gap {gap:+.2e} mm")
    assert abs(gap) < 0.01


def test_nccl_trains_and_is_recorded(tmp_path):
    """nccl with one process per GPU (here: as many processes as GPUs, at most 2)."""
    n = min(2, torch.cuda.device_count())
    proc = _train([*EDM_PLAIN, "--runs-dir", str(tmp_path / "runs"), "--checkpoint", str(tmp_path / "c.pt"),
                   "--ddp", "--nproc", str(n), "--backend", "nccl"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{n} processes (nccl" in proc.stdout
    assert _record(tmp_path / "runs")["distributed"] == {"world_size": n, "backend": "nccl"}


def test_nccl_refuses_more_processes_than_gpus(tmp_path):
    n = torch.cuda.device_count() + 1
    proc = _train([*EDM_PLAIN, "--runs-dir", str(tmp_path / "runs"), "--ddp", "--nproc", str(n),
                   "--backend", "nccl"], tmp_path)
    err = proc.stderr.strip()
    assert proc.returncode == 2 and err.startswith("error: ") and "\n" not in err, err
    assert "one GPU per process" in err and not (tmp_path / "runs").exists()


# ------------------------------------------------------------------------------------ profile on a GPU
@pytest.mark.parametrize("deterministic", [False, True])
def test_gpu_profile_record_says_whether_deterministic_algorithms_were_on(deterministic, tmp_path):
    cfg = resolve({"model.name": "videopose3d", "model.options.receptive_field": 27, "run.kind": "profile",
                   "profile.device": "cuda", "profile.batch_size": 64, "profile.warmup": 3, "profile.repeats": 10,
                   "profile.deterministic": deterministic})
    rec = execute(cfg, protocol="gpu.latency", scale="smoke", runs_dir=tmp_path)
    det = rec["determinism"]
    assert det["device"].startswith("cuda") and det["deterministic_algorithms"] is deterministic
    assert det["cudnn_deterministic"] is deterministic and det["cudnn_benchmark"] is False
    assert rec["profile"]["device"].startswith("cuda") and rec["metrics"][""]["ms_per_frame"] > 0
    print(f"\nvideopose3d 27f on {rec['profile']['device_name']}, deterministic={deterministic}: "
          f"{rec['metrics']['']['latency_ms']:.3f} ms batch-1, {rec['metrics']['']['throughput_fps']:.0f} frames/s")
