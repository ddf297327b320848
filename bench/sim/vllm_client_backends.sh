#!/usr/bin/env bash
# Proof with a real client, every route: vLLM's own `vllm bench serve` against
# `llmsweep sim` through its `openai-chat` backend (/v1/chat/completions) and its default
# `openai` backend (/v1/completions), a few hundred prompts each, closed loop and Poisson,
# and once more through an API key (the server holding two keys, the client one of them).
# Every run must end with 0 failed requests.
#
#   bench/sim/vllm_client_backends.sh       # VLLM=/path/to/vllm TOKENIZER=/path/to/tokenizer
#
# Writes bench/sim/results/vllm_backends_<run>.{json,log} and prints one summary line each.
set -euo pipefail
cd "$(dirname "$0")/../.."
VLLM=${VLLM:-/work/venv-vllm/bin/vllm}
TOKENIZER=${TOKENIZER:-/work/shared/data/tokenizers/smollm2}
PORT=${PORT:-18331}
OUT=bench/sim/results
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1

nice cargo build --release -q -p llmsweep --bin llmsweep
# A private copy: a shared target directory may be rebuilt while the runs go on.
TMP=$(mktemp -d)
SIM=$TMP/llmsweep
cp "${CARGO_TARGET_DIR:-target}/release/llmsweep" "$SIM"
SIMS=()
trap 'for p in "${SIMS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
start_sim() { # port, extra args…
    local port=$1
    shift
    "$SIM" sim --host 127.0.0.1 --port "$port" --startup-seconds 0 "$@" \
        > "$OUT/vllm_backends_sim_$port.server.log" 2>&1 &
    SIMS+=($!)
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null && return
        sleep 0.1
    done
    echo "llmsweep sim on port $port never became ready" >&2
    exit 1
}

bench() { # name, port, model, backend args…
    local name=$1 port=$2 model=$3
    shift 3
    "$VLLM" bench serve --base-url "http://127.0.0.1:$port" --model "$model" \
        --tokenizer "$TOKENIZER" --dataset-name random --temperature 0 \
        --save-result --result-dir "$OUT" --result-filename "vllm_backends_$name.json" "$@" \
        > "$OUT/vllm_backends_$name.log" 2>&1
    python3 - "$OUT/vllm_backends_$name.json" "$name" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:<16} completed {d['completed']:>4}  failed {d['failed']}  "
      f"in {d['total_input_tokens']:>6} tok  out {d['total_output_tokens']:>6} tok  "
      f"TTFT {d['mean_ttft_ms']:7.2f} ms  TPOT {d['mean_tpot_ms']:5.2f} ms  "
      f"{d['output_throughput']:7.1f} tok/s")
sys.exit(1 if d["failed"] else 0)
PY
}

MODEL=meta-llama/Llama-3.1-8B-Instruct
start_sim "$PORT"
bench chat "$PORT" "$MODEL" --backend openai-chat --endpoint /v1/chat/completions \
    --random-input-len 256 --random-output-len 128 --num-prompts 300 --max-concurrency 32
bench completions "$PORT" "$MODEL" --backend openai --endpoint /v1/completions \
    --random-input-len 256 --random-output-len 128 --num-prompts 300 --max-concurrency 32
bench completions_rate "$PORT" "$MODEL" --backend openai --endpoint /v1/completions \
    --random-input-len 256 --random-output-len 128 --num-prompts 300 --request-rate 20 \
    --ignore-eos

start_sim $((PORT + 1)) --profile fixed --fixed-itl-ms 2 --api-key k1 k2
OPENAI_API_KEY=k2 bench chat_api_key $((PORT + 1)) llmsweep/fixed-sim --backend openai-chat \
    --endpoint /v1/chat/completions --random-input-len 128 --random-output-len 64 \
    --num-prompts 200 --max-concurrency 16
