#!/usr/bin/env python3
"""Client speed benchmark: `llmsweep bench serve` side by side with `vllm bench serve`,
both against `llmsweep sim`.

The server is `llmsweep sim --profile fixed --fixed-ttft-ms 50 --fixed-itl-ms 10` (a release
build, `--startup-seconds 0`): the first token is due 50 ms after a request reaches the server,
then one token every 10 ms, 100 tokens (`--random-output-len 100 --ignore-eos`). Everything a
client measures above 50 ms TTFT / 10 ms ITL is error: server lateness, kernel, client. The
simulator's own lateness is its histogram `llmsweep_sim:emit_lag_seconds` on `/metrics`
(scheduled release -> bytes handed to the connection); this script scrapes it before and after
every client run and subtracts it to get the client-attributable error.

Measures, per client and concurrency (1, 100, 500, 1000 by default, clients interleaved so
they see the same machine):
  * TTFT error (measured - 50 ms): mean, median, p99; raw and minus the server's emit lag
  * ITL error (measured - 10 ms): median and p99; raw and minus the server's p99 emit lag
  * client CPU seconds per 1,000 streamed tokens, counted only while the server had requests
    running (so interpreter start-up and tokenizer loading are excluded for both clients;
    warmups are included) and divided by the tokens the server generated in that time
  * peak memory (max RSS from wait4)
  * the 1-minute load average before and after each run
and against `llmsweep sim --profile instant` the request rate each client sustains.

Usage:
  python3 bench/client/run.py                      # full run (~6 min with vLLM)
  python3 bench/client/run.py --vllm ''            # llmsweep only
  python3 bench/client/run.py --quick              # fewer prompts
Every process it starts is stopped by its own PID. Loopback only.
"""

import argparse
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRUE_TTFT_MS = 50.0
TRUE_ITL_MS = 10.0
TOKENS = 100
MODEL = "fixed"  # --served-model-name of the simulator, --served-model-name of the clients
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=5.0):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
        return resp.status, resp.read().decode()


def start_server(cmd, port, timeout=60.0):
    argv = shlex.split(cmd.format(port=port))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {argv}")
        try:
            if http_get(port, "/v1/models", timeout=1.0)[0] == 200:
                return proc
        except Exception:
            pass
        time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"server on port {port} did not become ready")


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def proc_cpu_s(pid):
    """utime + stime (+ waited-for children) of a live process, seconds; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def machine_busy_s():
    """CPU seconds the whole machine (every process, every core) has been busy since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def scrape(port):
    """Emit-lag histogram, generated tokens and running requests from the simulator's /metrics."""
    _, text = http_get(port, "/metrics")
    out = {"buckets": {}, "sum": 0.0, "count": 0.0, "tokens": 0.0, "running": 0.0}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name_labels, _, value = line.rpartition(" ")
        value = float(value)
        if name_labels.startswith("llmsweep_sim:emit_lag_seconds_bucket{"):
            le = name_labels.split('le="', 1)[1].split('"', 1)[0]
            le = float("inf") if le == "+Inf" else float(le)
            out["buckets"][le] = out["buckets"].get(le, 0.0) + value
        elif name_labels.startswith("llmsweep_sim:emit_lag_seconds_sum"):
            out["sum"] += value
        elif name_labels.startswith("llmsweep_sim:emit_lag_seconds_count"):
            out["count"] += value
        elif name_labels.startswith("vllm:generation_tokens_total"):
            out["tokens"] += value
        elif name_labels.startswith("vllm:num_requests_running"):
            out["running"] += value
    return out


def histogram_quantile(q, buckets):
    """Prometheus' histogram_quantile over cumulative {le: count} buckets (linear in a bucket)."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le in bounds:
        count = buckets[le]
        if count >= rank:
            if le == float("inf"):
                return prev_le
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return bounds[-1]


def lag_delta(before, after):
    """The emit lag of the emissions between two scrapes: mean, p50, p99 (ms), count."""
    buckets = {le: after["buckets"][le] - before["buckets"].get(le, 0.0) for le in after["buckets"]}
    count = after["count"] - before["count"]
    if count <= 0:
        return {"count": 0, "mean_ms": None, "p50_ms": None, "p99_ms": None}
    return {
        "count": int(count),
        "mean_ms": (after["sum"] - before["sum"]) / count * 1e3,
        "p50_ms": histogram_quantile(0.50, buckets) * 1e3,
        "p99_ms": histogram_quantile(0.99, buckets) * 1e3,
        "over_20ms": 1.0 - buckets.get(0.02, count) / count,
    }


class Sampler(threading.Thread):
    """Samples the client's CPU time and the server's running requests every `interval` s."""

    def __init__(self, client_pid, server_pid, port, interval=0.05):
        super().__init__(daemon=True)
        self.client_pid, self.server_pid, self.port, self.interval = client_pid, server_pid, port, interval
        self.samples = []  # (t, client cpu s, server cpu s, running, machine busy s)
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            cpu = proc_cpu_s(self.client_pid)
            if cpu is None:
                break
            try:
                running = scrape(self.port)["running"]
            except Exception:
                running = 0.0
            self.samples.append((time.time(), cpu, proc_cpu_s(self.server_pid) or 0.0, running, machine_busy_s()))
            self.done.wait(self.interval)

    def active_cpu(self):
        """Client, server and whole-machine CPU seconds, and wall seconds, between the first and
        last sample with requests running."""
        idx = [i for i, s in enumerate(self.samples) if s[3] > 0]
        if not idx:
            return None, None, None, None
        a = max(idx[0] - 1, 0)
        b = min(idx[-1] + 1, len(self.samples) - 1)
        sa, sb = self.samples[a], self.samples[b]
        return sb[1] - sa[1], sb[2] - sa[2], sb[4] - sa[4], sb[0] - sa[0]


def run_client(client_cmd, server, port, out_dir, name, extra, env):
    """Run one benchmark; return the result dict and process measurements."""
    result_file = f"{name}.json"
    argv = shlex.split(client_cmd) + [
        "--backend", "openai", "--host", "127.0.0.1", "--port", str(port),
        "--model", "llmsweep/fixed", "--served-model-name", MODEL,
        "--dataset-name", "random", "--random-input-len", "32",
        "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,90,99",
        "--save-result", "--result-dir", str(out_dir), "--result-filename", result_file,
        "--disable-tqdm",
    ] + extra
    before = scrape(port)
    load_before = os.getloadavg()[0]
    t0 = time.time()
    log = open(out_dir / f"{name}.log", "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    sampler = Sampler(proc.pid, server.pid, port)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.time() - t0
    sampler.done.set()
    sampler.join()
    log.close()
    after = scrape(port)
    if proc.returncode != 0:
        sys.stderr.write((out_dir / f"{name}.log").read_text()[-3000:])
        raise RuntimeError(f"{name} failed with exit code {proc.returncode}")
    with open(out_dir / result_file) as f:
        result = json.load(f)
    active_cpu, server_cpu, machine_cpu, active_s = sampler.active_cpu()
    # llmsweep's diagnostics (LLMSWEEP_BENCH_READ_DELAY=1): "Read delay (...): n=… mean=… ms".
    diag = {}
    for line in (out_dir / f"{name}.log").read_text().splitlines():
        for key, prefix in (("read_delay", "Read delay"), ("first_token_delay", "First-token read delay"),
                            ("head_delay", "Head delay"), ("ttft_arrival", "TTFT by arrival"),
                            ("ttft_read", "TTFT by read"), ("itl_arrival", "ITL by arrival"),
                            ("itl_read", "ITL by read")):
            if line.startswith(prefix):
                diag[key] = {k: float(v) for k, v in (kv.split("=") for kv in line.split(": ", 1)[1].split()[:-1])}
    return result, {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "active_cpu_s": active_cpu,
        "server_active_cpu_s": server_cpu,
        "machine_active_cpu_s": machine_cpu,
        "active_s": active_s,
        "read_delay": diag.get("read_delay"),
        "head_delay": diag.get("head_delay"),
        "first_token_delay": diag.get("first_token_delay"),
        "clocks": {k: diag.get(k) for k in ("ttft_arrival", "ttft_read", "itl_arrival", "itl_read")},
        "max_rss_mb": usage.ru_maxrss / 1024.0,
        "wall_s": wall,
        "tokens": after["tokens"] - before["tokens"],
        "lag": lag_delta(before, after),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def sub(a, b):
    return None if a is None or b is None else a - b


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llmsweep", default=str(ROOT / "target/release/llmsweep"))
    ap.add_argument("--vllm", default="/work/venv-vllm/bin/vllm", help="vllm executable; '' to skip")
    ap.add_argument("--tokenizer", default="/work/shared/data/tokenizers/smollm2")
    ap.add_argument("--server-cmd", default="{llmsweep} sim --profile fixed --fixed-ttft-ms 50 --fixed-itl-ms 10 "
                    f"--startup-seconds 0 --served-model-name {MODEL} --port {{port}}")
    ap.add_argument("--instant-cmd", default="{llmsweep} sim --profile instant "
                    f"--startup-seconds 0 --served-model-name {MODEL} --port {{port}}")
    ap.add_argument("--concurrency", default="1,100,500,1000")
    ap.add_argument("--waves", type=int, default=5, help="requests per stream slot")
    ap.add_argument("--min-prompts", type=int, default=20)
    ap.add_argument("--instant-prompts", type=int, default=60000)
    ap.add_argument("--instant-concurrency", default="50,100", help="the best rate of each client counts")
    ap.add_argument("--client-args", default="", help="extra arguments for llmsweep bench serve only")
    ap.add_argument("--llmsweep-user-clock", action="store_true",
                    help="also run llmsweep with LLMSWEEP_BENCH_CLOCK=user (timestamps taken after the read "
                         "returns, as before kernel timestamps) as a third client, 'llmsweep-user'")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench/client/results"))
    ap.add_argument("--render", metavar="JSON", help="print the tables of an earlier run's results/<date>.json and exit")
    args = ap.parse_args()
    if args.render:
        print_markdown(json.loads(Path(args.render).read_text()))
        return
    if args.quick:
        args.waves, args.min_prompts, args.instant_prompts = 2, 10, 5000

    out_root = Path(args.out)
    out_root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(tempfile.mkdtemp(prefix=f"client-bench-{stamp}-"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("OPENAI_API_KEY", None)
    llmsweep_cmd = f"{args.llmsweep} bench serve --tokenizer {args.tokenizer} {args.client_args}"
    # name -> (command, extra environment)
    clients = {"llmsweep": (llmsweep_cmd, {"LLMSWEEP_BENCH_READ_DELAY": "1"})}
    if args.llmsweep_user_clock:
        clients["llmsweep-user"] = (llmsweep_cmd, {"LLMSWEEP_BENCH_CLOCK": "user"})
    if args.vllm and Path(args.vllm).exists():
        clients["vllm"] = (f"{args.vllm} bench serve --tokenizer {args.tokenizer}", {})
    levels = [int(c) for c in args.concurrency.split(",")]
    server_cmd = args.server_cmd.replace("{llmsweep}", args.llmsweep)
    instant_cmd = args.instant_cmd.replace("{llmsweep}", args.llmsweep)

    report = {
        "date": stamp,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_start": os.getloadavg()},
        "server_cmd": server_cmd, "instant_cmd": instant_cmd,
        "clients": {name: {"cmd": cmd, "env": extra_env} for name, (cmd, extra_env) in clients.items()},
        "rows": [], "instant": [],
    }

    port = free_port()
    server = start_server(server_cmd, port)
    try:
        for c in levels:
            for name, (cmd, extra_env) in clients.items():
                n = max(c * args.waves, args.min_prompts)
                extra = ["--num-prompts", str(n), "--max-concurrency", str(c), "--num-warmups", str(c),
                         "--random-output-len", str(TOKENS), "--ignore-eos"]
                print(f"[{time.strftime('%H:%M:%S')}] {name}: concurrency {c}, {n} prompts, load {os.getloadavg()[0]:.2f}", flush=True)
                r, p = run_client(cmd, server, port, run_dir, f"{name}-c{c}", extra, dict(env, **extra_env))
                lag = p["lag"]
                row = {
                    "client": name, "concurrency": c, "prompts": n, "completed": r["completed"], "failed": r["failed"],
                    "ttft_err_mean_ms": r["mean_ttft_ms"] - TRUE_TTFT_MS,
                    "ttft_err_median_ms": r["median_ttft_ms"] - TRUE_TTFT_MS,
                    "ttft_err_p99_ms": r["p99_ttft_ms"] - TRUE_TTFT_MS,
                    "itl_err_median_ms": r["median_itl_ms"] - TRUE_ITL_MS,
                    "itl_err_p99_ms": r["p99_itl_ms"] - TRUE_ITL_MS,
                    "server_lag_mean_ms": lag["mean_ms"], "server_lag_p50_ms": lag["p50_ms"],
                    "server_lag_p99_ms": lag["p99_ms"], "server_lag_over_20ms": lag.get("over_20ms"),
                    "server_emissions": lag["count"],
                    "cpu_s": p["cpu_s"], "user_s": p["user_s"], "sys_s": p["sys_s"],
                    "active_cpu_s": p["active_cpu_s"], "server_active_cpu_s": p["server_active_cpu_s"],
                    "machine_active_cpu_s": p["machine_active_cpu_s"], "active_s": p["active_s"], "tokens": p["tokens"],
                    # CPU used by everything else on the machine while requests ran (other
                    # engineers' builds, this script): machine - client - server, in cores.
                    "other_cores": ((p["machine_active_cpu_s"] - p["active_cpu_s"] - p["server_active_cpu_s"]) / p["active_s"]
                                    if p["active_s"] else None),
                    "read_delay": p["read_delay"], "head_delay": p["head_delay"],
                    "first_token_delay": p["first_token_delay"], "clocks": p["clocks"],
                    "cpu_s_per_1k_tokens": (p["active_cpu_s"] / p["tokens"] * 1000
                                            if p["active_cpu_s"] is not None and p["tokens"] > 0 else None),
                    "max_rss_mb": p["max_rss_mb"], "wall_s": p["wall_s"],
                    "load_before": p["load_before"], "load_after": p["load_after"],
                    "client_bound": r.get("client_bound"),
                    "itl_same_read_fraction": r.get("itl_same_read_fraction"),
                    "p99_wakeup_lag_ms": r.get("p99_wakeup_lag_ms"),
                }
                # The client's share: what is left after the server's own lateness.
                row["ttft_client_mean_ms"] = sub(row["ttft_err_mean_ms"], lag["mean_ms"])
                row["ttft_client_median_ms"] = sub(row["ttft_err_median_ms"], lag["p50_ms"])
                row["ttft_client_p99_ms"] = sub(row["ttft_err_p99_ms"], lag["p99_ms"])
                row["itl_client_p99_ms"] = sub(row["itl_err_p99_ms"], lag["p99_ms"])
                # llmsweep only: the server's intake (request written -> response head arrived;
                # llmsweep sim sends the head before the first token) is server time too.
                hd = row["head_delay"] or {}
                row["head_delay_mean_ms"], row["head_delay_p99_ms"] = hd.get("mean"), hd.get("p99")
                row["ttft_client_mean_net_ms"] = sub(row["ttft_client_mean_ms"], hd.get("mean"))
                report["rows"].append(row)
                print("   " + json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    finally:
        stop(server)

    port = free_port()
    server = start_server(instant_cmd, port)
    try:
        for ic in [int(c) for c in args.instant_concurrency.split(",")]:
            for name, (cmd, extra_env) in clients.items():
                extra = ["--num-prompts", str(args.instant_prompts), "--max-concurrency", str(ic),
                         "--random-output-len", "1", "--num-warmups", str(ic)]
                print(f"[{time.strftime('%H:%M:%S')}] {name}: instant, {args.instant_prompts} prompts, concurrency {ic}, load {os.getloadavg()[0]:.2f}", flush=True)
                r, p = run_client(cmd, server, port, run_dir, f"{name}-instant-c{ic}", extra, dict(env, **extra_env))
                row = {"client": name, "concurrency": ic, "request_throughput": r["request_throughput"],
                       "completed": r["completed"], "failed": r["failed"], "duration_s": r["duration"],
                       "cpu_s": p["cpu_s"], "active_cpu_s": p["active_cpu_s"],
                       "server_active_cpu_s": p["server_active_cpu_s"], "max_rss_mb": p["max_rss_mb"],
                       "other_cores": ((p["machine_active_cpu_s"] - p["active_cpu_s"] - p["server_active_cpu_s"]) / p["active_s"]
                                       if p["active_s"] else None),
                       "load_before": p["load_before"], "load_after": p["load_after"]}
                report["instant"].append(row)
                print("   " + json.dumps(row), flush=True)
    finally:
        stop(server)

    report["machine"]["loadavg_end"] = os.getloadavg()
    out = out_root / f"{stamp}.json"
    out.write_text(json.dumps(report, indent=2))
    print_markdown(report)
    print(f"\nraw numbers: {out}\nresult files and logs: {run_dir}")


def f(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def print_markdown(report):
    print("\nTTFT (true 50 ms after the request reaches the server)\n")
    print("| client | streams | TTFT err mean / median / p99 (ms) | server emit lag mean / p50 / p99 (ms) | "
          "TTFT err − emit lag: mean / median / p99 (ms) | server intake (head delay) mean / p99 (ms) | "
          "TTFT err − emit lag − intake, mean (ms) | client read delay, first token / all reads: mean / p99 (ms) | other cores | load | failed |")
    print("|---|---:|---|---|---|---|---:|---|---:|---|---:|")
    for r in report["rows"]:
        rd = r.get("read_delay") or {}
        fd = r.get("first_token_delay") or {}
        print(f"| {r['client']} | {r['concurrency']} "
              f"| {f(r['ttft_err_mean_ms'])} / {f(r['ttft_err_median_ms'])} / {f(r['ttft_err_p99_ms'])} "
              f"| {f(r['server_lag_mean_ms'], 2)} / {f(r['server_lag_p50_ms'], 2)} / {f(r['server_lag_p99_ms'], 1)} "
              f"| {f(r['ttft_client_mean_ms'])} / {f(r['ttft_client_median_ms'])} / {f(r['ttft_client_p99_ms'])} "
              f"| {f(r.get('head_delay_mean_ms'), 2)} / {f(r.get('head_delay_p99_ms'), 1)} "
              f"| {f(r.get('ttft_client_mean_net_ms'), 1)} "
              f"| {f(fd.get('mean'), 2)} / {f(fd.get('p99'), 1)}; {f(rd.get('mean'), 2)} / {f(rd.get('p99'), 1)} "
              f"| {f(r['other_cores'], 2)} | {r['load_before']:.2f}→{r['load_after']:.2f} | {r['failed']} |")
    clock_rows = [r for r in report["rows"] if (r.get("clocks") or {}).get("itl_arrival")]
    if clock_rows:
        print("\nThe same tokens timed by arrival (kernel clock, what llmsweep reports) and by read (user clock)\n")
        print("| client | streams | TTFT err by arrival: mean / p50 / p99 (ms) | TTFT err by read: mean / p50 / p99 (ms) | "
              "ITL err by arrival: p50 / p99 (ms) | ITL err by read: p50 / p99 (ms) |")
        print("|---|---:|---|---|---|---|")
        for r in clock_rows:
            c = r["clocks"]

            def t(k, q, true):
                return f(c[k][q] - true, 2)
            print(f"| {r['client']} | {r['concurrency']} "
                  f"| {t('ttft_arrival', 'mean', TRUE_TTFT_MS)} / {t('ttft_arrival', 'p50', TRUE_TTFT_MS)} / {t('ttft_arrival', 'p99', TRUE_TTFT_MS)} "
                  f"| {t('ttft_read', 'mean', TRUE_TTFT_MS)} / {t('ttft_read', 'p50', TRUE_TTFT_MS)} / {t('ttft_read', 'p99', TRUE_TTFT_MS)} "
                  f"| {t('itl_arrival', 'p50', TRUE_ITL_MS)} / {t('itl_arrival', 'p99', TRUE_ITL_MS)} "
                  f"| {t('itl_read', 'p50', TRUE_ITL_MS)} / {t('itl_read', 'p99', TRUE_ITL_MS)} |")
    print("\nITL (true 10 ms), CPU, memory\n")
    print("| client | streams | ITL err median / p99 (ms) | server emit lag p99 (ms) | p99 ITL err − p99 emit lag (ms) | "
          "same-read gaps | CPU s / 1k tokens (client / server) | peak RSS (MB) |")
    print("|---|---:|---|---:|---:|---:|---|---:|")
    for r in report["rows"]:
        srv = r["server_active_cpu_s"] / r["tokens"] * 1000 if r.get("server_active_cpu_s") is not None and r["tokens"] else None
        same = r.get("itl_same_read_fraction")
        print(f"| {r['client']} | {r['concurrency']} | {f(r['itl_err_median_ms'], 2)} / {f(r['itl_err_p99_ms'], 2)} "
              f"| {f(r['server_lag_p99_ms'], 1)} | {f(r['itl_client_p99_ms'], 2)} "
              f"| {'-' if same is None else f'{same:.1%}'} "
              f"| {f(r['cpu_s_per_1k_tokens'], 4)} / {f(srv, 4)} | {r['max_rss_mb']:.0f} |")
    if report["instant"]:
        print("\nInstant profile (1 token, --request-rate inf)\n")
        print("| client | concurrency | req/s (instant) | CPU s while running / whole process | peak RSS (MB) | other cores | load before→after |")
        print("|---|---:|---:|---|---:|---:|---|")
        for r in report["instant"]:
            print(f"| {r['client']} | {r['concurrency']} | {r['request_throughput']:.0f} | {f(r['active_cpu_s'])} / {r['cpu_s']:.1f} "
                  f"| {r['max_rss_mb']:.0f} | {f(r['other_cores'], 2)} | {r['load_before']:.2f}→{r['load_after']:.2f} |")
        best = {}
        for r in report["instant"]:
            best[r["client"]] = max(best.get(r["client"], 0.0), r["request_throughput"])
        if best.get("vllm"):
            print(f"\nllmsweep / vllm sustained-rate ratio: {best['llmsweep'] / best['vllm']:.1f}x")


if __name__ == "__main__":
    main()
