#!/usr/bin/env bash
# Side by side on the same synthetic 1,000-run sweep folder (vLLM's layout and keys):
# `llmsweep plot` / `plot-pareto` / `report` against `vllm bench sweep plot` /
# `plot_pareto`, with the same flags. See bench/plot/README.md for results.
#
#   VLLM_VENV=/work/venv-vllm RUNS=1000 REPS=5 bash bench/plot/run_bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VLLM_VENV:-/work/venv-vllm}
RUNS=${RUNS:-1000}
REPS=${REPS:-5}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
DIR=$WORK/sweep

python3 bench/plot/synth_sweep.py --runs "$RUNS" --out "$DIR"
cargo build --release -p llmsweep >/dev/null 2>&1
LL=$PWD/target/release/llmsweep
FLAGS="--var-x request_throughput --var-y p99_e2el_ms --curve-by max_num_seqs --col-by max_num_batched_tokens"

echo "## $RUNS runs, $(find "$DIR" -name summary.json | wc -l) summary.json files, $(du -sh "$DIR" | cut -f1)"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
args=(
  "llmsweep plot (PNG)" "$LL plot $DIR $FLAGS --fig-name ll"
  "llmsweep plot --format both" "$LL plot $DIR $FLAGS --fig-name llb --format both"
  "llmsweep plot --dry-run" "$LL plot $DIR $FLAGS --dry-run"
  "llmsweep plot-pareto (PNG+SVG)" "$LL plot-pareto $DIR"
  "llmsweep report" "$LL report $DIR"
)
if [[ -x "$VENV/bin/vllm" ]]; then
  PY=$VENV/bin/python
  # The library call alone, without the CLI's start-up (importing vllm and torch).
  cat > "$WORK/vllm_plot_only.py" <<PY
import sys, time
from pathlib import Path
from vllm.benchmarks.sweep.plot import plot, PlotFilters, PlotBinners
d = Path(sys.argv[1])
t = time.perf_counter()
plot(d, d, [], [], ["max_num_batched_tokens"], ["max_num_seqs"], var_x="request_throughput",
     var_y="p99_e2el_ms", filter_by=PlotFilters(), bin_by=PlotBinners(), scale_x=None,
     scale_y=None, dry_run=False, fig_name="vl_lib")
print(f"vllm plot() alone: {time.perf_counter() - t:.3f} s", file=sys.stderr)
PY
  args+=(
    "vllm bench sweep plot" "$VENV/bin/vllm bench sweep plot $DIR $FLAGS --fig-name vl"
    "vllm bench sweep plot --dry-run" "$VENV/bin/vllm bench sweep plot $DIR $FLAGS --dry-run"
    "vllm bench sweep plot_pareto" "$VENV/bin/vllm bench sweep plot_pareto $DIR"
    "python script calling vllm plot() (whole process)" "$PY $WORK/vllm_plot_only.py $DIR"
  )
else
  echo "(no vLLM venv at $VENV: vLLM side skipped)"
fi
python3 bench/plot/timeit.py "$REPS" "${args[@]}"
if [[ -x "$VENV/bin/vllm" ]]; then
  for i in 1 2 3; do "$PY" "$WORK/vllm_plot_only.py" "$DIR" 2>&1 >/dev/null | grep 'alone'; done
fi
