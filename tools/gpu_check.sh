#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one go (CI has none): the GPU tests (tests/engine/test_gpu.py:
# every model's forward against the CPU, every golden experiment trained twice on the GPU, --ddp with gloo
# and nccl, profile determinism records), the latency table of every model on this GPU, and a training
# sweep on the GPU. Logs and tables go to $OUT (default results/gpu_check/).
# Usage: tools/gpu_check.sh            (with the harness importable: pip install -e . or PYTHONPATH=.)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/gpu_check}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# cuBLAS reads its workspace setting once per process; set it before anything touches CUDA
export CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8}
status=0
step() { echo "== $* ($(date +%T))"; }

step "machine"
nvidia-smi -L 2>&1 | tee "$OUT/machine.txt"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'gpus', torch.cuda.device_count())" \
  2>&1 | tee -a "$OUT/machine.txt"

step "GPU tests"
timeout "${TEST_TIMEOUT:-300}" "$PY" -m pytest -m gpu -s -q -p no:cacheprovider tests/engine/test_gpu.py \
  --durations=10 --junitxml="$OUT/gpu_tests.xml" 2>&1 | tee "$OUT/gpu_tests.log" || status=1

# The sweeps write under a scratch results root (--results), so the committed CPU tables and plots of
# this checkout are left as they are. Their tables are <protocol>.<scale>.set-<hash>.md (the --set is in
# the name).
WORK=$(mktemp -d)
step "latency of every model on this GPU (models.latency, profile.device=cuda)"
(cd "$WORK" && timeout "${LATENCY_TIMEOUT:-150}" "$PY" -m bench.cli ablate models.latency --scale quick \
  --set profile.device=cuda --format md --results "$WORK/results") 2>&1 | tee "$OUT/latency.log" || status=1
cp "$WORK"/results/tables/models.latency.quick.*.md "$OUT/models.latency.gpu.md" 2>/dev/null || status=1

step "a training sweep on the GPU (dgnet.k, smoke, train.device=cuda)"
(cd "$WORK" && timeout "${SWEEP_TIMEOUT:-150}" "$PY" -m bench.cli ablate dgnet.k --scale smoke \
  --set train.device=cuda --format md --results "$WORK/results") 2>&1 | tee "$OUT/sweep.log" || status=1
cp "$WORK"/results/tables/dgnet.k.smoke.*.md "$OUT/dgnet.k.gpu.md" 2>/dev/null || status=1
tar czf "$OUT/gpu_runs.tgz" -C "$WORK/results" runs 2>/dev/null
step "done, status $status"
exit $status
