#!/usr/bin/env bash
# Proof with a real client: run vLLM's own `vllm bench serve` against `llmsweep sim`
# (default profile llama-3-8b-h100, real time) and compare its TTFT and TPOT with what the
# model predicts for the same workload (a virtual-time run of the `predict` example).
#
#   bench/sim/vllm_client_proof.sh            # VLLM=/path/to/vllm TOKENIZER=/path/to/tokenizer
#
# Writes bench/sim/results/vllm_client_proof{.json,.log,.prediction.json,.server.log}.
set -euo pipefail
cd "$(dirname "$0")/../.."
VLLM=${VLLM:-/work/venv-vllm/bin/vllm}
TOKENIZER=${TOKENIZER:-/work/shared/data/tokenizers/smollm2}
PORT=${PORT:-18321}
OUT=bench/sim/results
mkdir -p "$OUT"

nice cargo build --release -q -p llmsweep -p llmsweep-sim --example predict --bin llmsweep
target/release/llmsweep sim --host 127.0.0.1 --port "$PORT" --startup-seconds 0 \
    > "$OUT/vllm_client_proof.server.log" 2>&1 &
SIM=$!
trap 'kill "$SIM" 2>/dev/null; wait "$SIM" 2>/dev/null' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
    sleep 0.1
done

HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VLLM" bench serve \
    --backend vllm --base-url "http://127.0.0.1:$PORT" \
    --tokenizer "$TOKENIZER" \
    --dataset-name random --random-input-len 128 --random-output-len 64 \
    --num-prompts 32 --max-concurrency 4 \
    --save-result --result-dir "$OUT" --result-filename vllm_client_proof.json \
    2>&1 | tee "$OUT/vllm_client_proof.log"

# The server's own view: its TTFT histogram (arrival at the server → first token out).
curl -sf "http://127.0.0.1:$PORT/metrics" > "$OUT/vllm_client_proof.metrics.txt"

# The server saw total_input_tokens / num_prompts tokens per prompt (BOS included).
# The client starts its 4 streams one after another (stagger) and takes about a
# millisecond between a response's end and the next request (think).
PROMPT=$(python3 -c "import json; d = json.load(open('$OUT/vllm_client_proof.json')); print(round(d['total_input_tokens'] / d['completed']))")
target/release/examples/predict --input-len "$PROMPT" --output-len 64 --concurrency 4 \
    --num-prompts 32 --stagger-ms 0.5 --think-ms 1 > "$OUT/vllm_client_proof.prediction.json"

python3 - "$OUT/vllm_client_proof.json" "$OUT/vllm_client_proof.prediction.json" \
    "$OUT/vllm_client_proof.metrics.txt" <<'PY'
import json, sys
measured, predicted = (json.load(open(p)) for p in sys.argv[1:3])
sums = {}
for line in open(sys.argv[3]):
    for name in ("vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds"):
        for part in ("_sum", "_count"):
            if line.startswith(name + part + "{"):
                sums[name + part] = float(line.rsplit(" ", 1)[1])
server_ttft = 1e3 * sums["vllm:time_to_first_token_seconds_sum"] / sums["vllm:time_to_first_token_seconds_count"]
server_itl = 1e3 * sums["vllm:inter_token_latency_seconds_sum"] / sums["vllm:inter_token_latency_seconds_count"]
print(f"failed requests: {measured['failed']} of {measured['num_prompts']}")
print(f"{'metric':<18}{'vllm bench serve':>18}{'server /metrics':>17}{'model':>9}{'client vs model':>17}")
rows = [("mean_ttft_ms", server_ttft), ("median_ttft_ms", None), ("mean_tpot_ms", server_itl),
        ("median_tpot_ms", None), ("output_throughput", None)]
for key, server in rows:
    m, p = measured[key], predicted[key]
    s = f"{server:.2f}" if server is not None else "-"
    print(f"{key:<18}{m:>18.2f}{s:>17}{p:>9.2f}{(m - p) / p:>+17.1%}")
PY
