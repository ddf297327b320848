#!/usr/bin/env bash
# Make tests/fixtures/vllm-sweep/plot-fake-server with vLLM's own `vllm bench sweep serve`,
# against bench/plot/fake_server.py (a stdlib HTTP server; no GPU, no model).
#
# Needs a venv with vllm (0.33.0 was used), pandas, matplotlib and seaborn:
#   VLLM_VENV=/work/venv-vllm bash bench/plot/make_vllm_fixture.sh
# Takes a few minutes (each `vllm bench serve` start imports torch).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VLLM_VENV:-/work/venv-vllm}
TOKENIZER=${TOKENIZER:-/work/shared/data/tokenizers/smollm2}
PORT=${PORT:-18765}
OUT=tests/fixtures/vllm-sweep
NAME=plot-fake-server
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cat > "$WORK/serve.json" <<'JSON'
[
  {"max_num_seqs": 4},
  {"max_num_seqs": 16},
  {"max_num_seqs": 8, "fail_on_start": true}
]
JSON
cat > "$WORK/bench.json" <<'JSON'
[
  {"max_concurrency": 1},
  {"max_concurrency": 4},
  {"max_concurrency": 16}
]
JSON

rm -rf "${OUT:?}/$NAME"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
"$VENV/bin/vllm" bench sweep serve \
  --serve-cmd "python3 bench/plot/fake_server.py --port $PORT" \
  --bench-cmd "vllm bench serve --backend openai --endpoint /v1/completions --model smollm2 \
      --tokenizer $TOKENIZER --port $PORT --dataset-name random --random-input-len 32 \
      --random-output-len 16 --num-prompts 24 --ready-check-timeout-sec 30" \
  --after-bench-cmd true \
  --serve-params "$WORK/serve.json" --bench-params "$WORK/bench.json" \
  --num-runs 2 --continue-on-error --server-ready-timeout 30 \
  -o "$OUT" -e "$NAME"
echo "wrote $OUT/$NAME"
