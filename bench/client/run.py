#!/usr/bin/env python3
"""Client speed benchmark: `llmsweep bench serve` side by side with `vllm bench serve`.

Both clients get the same command line against the same fixed-timing server
(crates/bench/examples/fixed_server.rs: TTFT 50 ms, then one token every 10 ms, 100 tokens),
so every millisecond above 50 ms TTFT / 10 ms ITL is measurement error (client + server + OS).

Measures, per client:
  * TTFT error (measured - 50 ms; mean, median, p99) at concurrency 1, 100, 500, 1000
  * p99 inter-token error (p99 ITL - 10 ms)
  * client CPU seconds per 1,000 output tokens (fixed start-up cost subtracted)
  * peak memory (max RSS)
  * the highest request rate sustained against an instant server (TTFT 0, 1 token)

Usage:
  python3 bench/client/run.py                      # full run (~10 min with vLLM)
  python3 bench/client/run.py --quick              # smaller workloads
  python3 bench/client/run.py --server-cmd "llmsweep sim --profile fixed --port {port}" ...
Every process it starts is stopped by its own PID. Loopback only.
"""

import argparse
import json
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRUE_TTFT_MS = 50.0
TRUE_ITL_MS = 10.0
TOKENS = 100


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not come up")


def start_server(cmd, port):
    argv = shlex.split(cmd.format(port=port))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


def server_stats(port):
    """The fixed server's own lateness since the last call (None if the server has no /stats)."""
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as resp:
            return json.loads(resp.read())
    except Exception:
        return None


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_client(client_cmd, port, out_dir, name, extra, env):
    """Run one benchmark under /usr/bin/time -v; return (result dict, cpu_s, max_rss_mb, wall_s)."""
    result_file = f"{name}.json"
    argv = ["/usr/bin/time", "-v"] + shlex.split(client_cmd) + [
        "--backend", "openai", "--host", "127.0.0.1", "--port", str(port),
        "--model", "llmsweep/fixed", "--served-model-name", "fixed",
        "--dataset-name", "random", "--random-input-len", "32",
        "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,99",
        "--save-result", "--result-dir", str(out_dir), "--result-filename", result_file,
        "--disable-tqdm",
    ] + extra
    t0 = time.time()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    wall = time.time() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise RuntimeError(f"{name} failed with exit code {proc.returncode}")
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", proc.stderr).group(1))
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", proc.stderr).group(1))
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    with open(out_dir / result_file) as f:
        result = json.load(f)
    return result, user + system, rss_kb / 1024.0, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llmsweep", default=str(ROOT / "target/release/llmsweep"))
    ap.add_argument("--vllm", default="/work/venv-vllm/bin/vllm", help="vllm executable; '' to skip")
    ap.add_argument("--tokenizer", default="/work/shared/data/tokenizers/smollm2")
    ap.add_argument("--server-cmd", default=str(ROOT / "target/release/examples/fixed_server")
                    + " --port {port} --ttft-ms 50 --itl-ms 10 --tokens 100")
    ap.add_argument("--instant-cmd", default=str(ROOT / "target/release/examples/fixed_server")
                    + " --port {port} --ttft-ms 0 --itl-ms 0 --tokens 1")
    ap.add_argument("--concurrency", default="1,100,500,1000")
    ap.add_argument("--waves", type=int, default=3, help="requests per stream slot")
    ap.add_argument("--instant-prompts", type=int, default=20000)
    ap.add_argument("--instant-concurrency", type=int, default=100)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench/client/results"))
    args = ap.parse_args()
    if args.quick:
        args.waves, args.instant_prompts = 2, 5000

    out_root = Path(args.out)
    out_root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(tempfile.mkdtemp(prefix=f"client-bench-{stamp}-"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("OPENAI_API_KEY", None)
    clients = {"llmsweep": f"{args.llmsweep} bench serve --tokenizer {args.tokenizer}"}
    if args.vllm and Path(args.vllm).exists():
        clients["vllm"] = f"{args.vllm} bench serve --tokenizer {args.tokenizer}"
    levels = [int(c) for c in args.concurrency.split(",")]

    report = {
        "date": stamp,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_start": os.getloadavg()},
        "server_cmd": args.server_cmd, "instant_cmd": args.instant_cmd, "clients": clients, "rows": [], "instant": [],
    }

    port = free_port()
    server = start_server(args.server_cmd, port)
    try:
        for name, cmd in clients.items():
            base, base_cpu, _, _ = run_client(cmd, port, run_dir, f"{name}-base", ["--num-prompts", "1", "--max-concurrency", "1"], env)
            for c in levels:
                n = max(c * args.waves, 10)
                extra = ["--num-prompts", str(n), "--max-concurrency", str(c), "--num-warmups", str(c),
                         "--random-output-len", str(TOKENS), "--ignore-eos"]
                print(f"[{time.strftime('%H:%M:%S')}] {name}: concurrency {c}, {n} prompts, load {os.getloadavg()[0]:.1f}", flush=True)
                server_stats(port)
                r, cpu, rss, wall = run_client(cmd, port, run_dir, f"{name}-c{c}", extra, env)
                stats = server_stats(port)
                tokens = r["total_output_tokens"] - base["total_output_tokens"]
                row = {
                    "client": name, "concurrency": c, "prompts": n, "completed": r["completed"], "failed": r["failed"],
                    "ttft_err_mean_ms": r["mean_ttft_ms"] - TRUE_TTFT_MS,
                    "ttft_err_median_ms": r["median_ttft_ms"] - TRUE_TTFT_MS,
                    "ttft_err_p99_ms": r["p99_ttft_ms"] - TRUE_TTFT_MS,
                    "itl_err_median_ms": r["median_itl_ms"] - TRUE_ITL_MS,
                    "itl_err_p99_ms": r["p99_itl_ms"] - TRUE_ITL_MS,
                    "cpu_s": cpu, "cpu_s_per_1k_tokens": (cpu - base_cpu) / tokens * 1000 if tokens > 0 else None,
                    "max_rss_mb": rss, "wall_s": wall, "loadavg_1m": os.getloadavg()[0],
                    "client_bound": r.get("client_bound"),
                    # The server's own lateness (warmups included): what is left of the error
                    # after subtracting it is the client's (plus the kernel's) share.
                    "server_first_token_late_mean_ms": stats["first_token_late_ms"]["mean"] if stats else None,
                    "server_token_late_p99_ms": stats["token_late_ms"]["p99"] if stats else None,
                }
                report["rows"].append(row)
                print("   " + json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    finally:
        stop(server)

    port = free_port()
    server = start_server(args.instant_cmd, port)
    try:
        for name, cmd in clients.items():
            extra = ["--num-prompts", str(args.instant_prompts), "--max-concurrency", str(args.instant_concurrency),
                     "--random-output-len", "1", "--num-warmups", str(args.instant_concurrency)]
            print(f"[{time.strftime('%H:%M:%S')}] {name}: instant server, {args.instant_prompts} prompts", flush=True)
            r, cpu, rss, wall = run_client(cmd, port, run_dir, f"{name}-instant", extra, env)
            row = {"client": name, "request_throughput": r["request_throughput"], "completed": r["completed"],
                   "failed": r["failed"], "cpu_s": cpu, "max_rss_mb": rss, "loadavg_1m": os.getloadavg()[0]}
            report["instant"].append(row)
            print("   " + json.dumps(row), flush=True)
    finally:
        stop(server)

    report["machine"]["loadavg_end"] = os.getloadavg()
    out = out_root / f"{stamp}.json"
    out.write_text(json.dumps(report, indent=2))
    print_markdown(report)
    print(f"\nraw numbers: {out}\nresult files: {run_dir}")


def print_markdown(report):
    print("\n| client | streams | TTFT err mean / median / p99 (ms) | ITL err median / p99 (ms) | server late: 1st token mean / token p99 (ms) | CPU s / 1k tok | max RSS (MB) | load | failed |")
    print("|---|---:|---|---|---|---:|---:|---:|---:|")
    for r in report["rows"]:
        cpu = f"{r['cpu_s_per_1k_tokens']:.3f}" if r["cpu_s_per_1k_tokens"] is not None else "-"
        late = (f"{r['server_first_token_late_mean_ms']:.1f} / {r['server_token_late_p99_ms']:.1f}"
                if r.get("server_first_token_late_mean_ms") is not None else "-")
        print(f"| {r['client']} | {r['concurrency']} | {r['ttft_err_mean_ms']:.1f} / {r['ttft_err_median_ms']:.1f} / {r['ttft_err_p99_ms']:.1f} "
              f"| {r['itl_err_median_ms']:.2f} / {r['itl_err_p99_ms']:.2f} | {late} | {cpu} | {r['max_rss_mb']:.0f} | {r['loadavg_1m']:.1f} | {r['failed']} |")
    if report["instant"]:
        print("\n| client | instant-server req/s | CPU s | max RSS (MB) |")
        print("|---|---:|---:|---:|")
        for r in report["instant"]:
            print(f"| {r['client']} | {r['request_throughput']:.0f} | {r['cpu_s']:.1f} | {r['max_rss_mb']:.0f} |")
        rates = {r["client"]: r["request_throughput"] for r in report["instant"]}
        if "vllm" in rates and rates["vllm"] > 0:
            print(f"\nllmsweep / vllm sustained-rate ratio: {rates['llmsweep'] / rates['vllm']:.1f}x")


if __name__ == "__main__":
    main()
