#!/usr/bin/env bash
# Speed benchmark of `llmsweep sim` itself: is the simulator ever what limits a benchmark?
# Three scenarios, each against a fresh release server on 127.0.0.1, driven by the
# `sse_load` example (a Rust client counting SSE events as bytes arrive):
#
#   held       fixed profile, 100 ms/token: 5,000 concurrent streams of 100 tokens
#   throughput instant profile: 64 clients × 1,000-token streams, one SSE event per token
#   lag1000    fixed profile, 50 ms/token: 1,000 concurrent streams (20k tokens/s); the
#              server's llmsweep_sim:emit_lag_seconds histogram (scheduled release → bytes
#              handed to the connection) gives the lag percentiles
#   lag1000-fast  the same at 20 ms/token (50k tokens/s)
#
#   bench/sim/speed.sh [scenario…]      # default: all four
#
# Writes bench/sim/results/speed-<scenario>.json (client report + CPU seconds + load).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=bench/sim/results
mkdir -p "$OUT"
nice cargo build --release -q -p llmsweep -p llmsweep-sim --example sse_load --bin llmsweep
SIM=target/release/llmsweep
LOAD=target/release/examples/sse_load
PORT=${PORT:-18400}

cpu_seconds() { # utime + stime of a pid, in seconds
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

scenario() { # name, server args, client args
    local name=$1 server_args=$2 client_args=$3
    PORT=$((PORT + 1))
    # shellcheck disable=SC2086
    $SIM sim --port "$PORT" --startup-seconds 0 $server_args > "$OUT/speed-$name.server.log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.05; done
    local load_before
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    local t0 client_cpu report
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    report=$(/usr/bin/time -f '%U %S' -o "$OUT/.client-time" $LOAD --addr "127.0.0.1:$PORT" $client_args)
    client_cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$OUT/.client-time")
    local server_cpu
    server_cpu=$(cpu_seconds "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -f "$OUT/.client-time"
    python3 - "$name" "$report" "$server_cpu" "$client_cpu" "$load_before" "$t0" > "$OUT/speed-$name.json" <<'PY'
import json, sys, time
name, report, server_cpu, client_cpu, load, t0 = sys.argv[1:7]
r = json.loads(report)
r.update(scenario=name, server_cpu_s=float(server_cpu), client_cpu_s=float(client_cpu),
         load_avg_1m_before=float(load), wall_s=time.time() - float(t0))
print(json.dumps(r, indent=2))
PY
    echo "== $name"; cat "$OUT/speed-$name.json"
}

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${@:-held throughput lag1000 lag1000-fast}"; do
    for one in $s; do
        case $one in
            held) scenario held "--profile fixed --fixed-itl-ms 100" \
                "--concurrency 5000 --requests 10000 --max-tokens 100" ;;
            throughput) scenario throughput "--profile instant" \
                "--concurrency 64 --requests 3000 --max-tokens 1000" ;;
            lag1000) scenario lag1000 "--profile fixed --fixed-itl-ms 50" \
                "--concurrency 1000 --requests 3000 --max-tokens 100" ;;
            lag1000-fast) scenario lag1000-fast "--profile fixed --fixed-itl-ms 20" \
                "--concurrency 1000 --requests 3000 --max-tokens 150" ;;
            *) echo "unknown scenario $one" >&2; exit 2 ;;
        esac
    done
done
