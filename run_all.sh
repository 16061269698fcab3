#!/usr/bin/env bash
# The main job. `./run_all.sh` installs what is missing, runs every protocol at quick scale on the
# bundled stand-in data and writes tables, plots and an index. `./run_all.sh test` runs the tests.
# Other scales: SCALE=smoke ./run_all.sh ; parallel processes: JOBS=2 ./run_all.sh ;
# some protocols only: PROTOCOLS="dgnet.k ugcn.h36m" ./run_all.sh ; results elsewhere than results/:
# BENCH_RESULTS=/path ./run_all.sh (bench/paths.py). Interrupted at any point, it resumes: finished cells
# are kept and skipped.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
TORCH_PIN="torch==2.13.0"

setup() {
  # A pinned CPU torch only when none is installed: never replace a user's own (e.g. CUDA) build.
  if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "[setup] no torch found: installing pinned $TORCH_PIN"
    "$PY" -m pip install -q "$TORCH_PIN"
  else
    echo "[setup] using installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
  fi
  # The package itself (editable) and its dependencies; --no-deps would skip missing ones, and torch
  # is not a declared dependency, so this never touches torch.
  if ! "$PY" -c "import bench.cli, tabulate, yaml, pandas, matplotlib, tqdm" >/dev/null 2>&1 \
     || ! command -v bench >/dev/null 2>&1; then
    echo "[setup] installing the harness and its dependencies"
    "$PY" -m pip install -q -e ".$1"
  elif [ -n "$1" ] && ! "$PY" -c "import pytest, ray" >/dev/null 2>&1; then
    "$PY" -m pip install -q -e ".$1"
  fi
}

if [ "${1:-}" = "test" ]; then
  shift
  setup "[test]"
  echo "[test] pytest (default: fast tests; slow ones with: ./run_all.sh test -m slow)"
  "$PY" -m pytest -q "$@"
  echo "[test] bench check (CI regression: golden MPJPE at smoke scale, parameter counts)"
  "$PY" -m bench.cli check
  exit 0
fi

setup ""
SCALE=${SCALE:-quick}
JOBS=${JOBS:-1}
start=$(date +%s)
if [ -n "${PROTOCOLS:-}" ]; then
  read -r -a protocols <<< "$PROTOCOLS"
else
  mapfile -t protocols < <("$PY" -c "from bench.protocols import list_protocols; print('\n'.join(list_protocols()))")
fi
echo "[run_all] ${#protocols[@]} protocol(s) at scale '$SCALE': ${protocols[*]}"
i=0
for p in "${protocols[@]}"; do
  i=$((i + 1))
  echo "[run_all] ($i/${#protocols[@]}) $p"
  "$PY" -m bench.cli ablate "$p" --scale "$SCALE" --jobs "$JOBS" --format md --format csv
done
"$PY" -m bench.cli table all --scale "$SCALE" --format md --format csv --format latex
end=$(date +%s)
R=${BENCH_RESULTS:-results}  # the results root bench used (a relative one is taken against this folder)
echo "[run_all] done in $((end - start)) s. Wrote:"
echo "  overview: $R/README.md (every table and plot, one line each)"
echo "  tables: $(ls "$R"/tables/*.md | tr '\n' ' ')"
echo "  plots:  $(ls "$R"/plots/*.png | tr '\n' ' ')"
echo "  run records: $(find "$R"/runs -name '*.json' | wc -l) in $R/runs/ (TensorBoard curves: $R/tb/)"
