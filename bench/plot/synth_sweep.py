#!/usr/bin/env python3
"""Synthesise a sweep folder in vLLM's layout with N runs, for timing `plot`.

    python3 bench/plot/synth_sweep.py --runs 1000 --out /tmp/sweep-1000

Layout and keys are those `vllm bench sweep serve` writes (see
tests/fixtures/vllm-sweep/plot-fake-server, made by the real tool): one folder per
(serve, bench) combination with run=N.json and summary.json, and summary.csv at the root.
Each run holds the full key set of `vllm bench serve --save-result`, including the
per-request `latencies` and `queue_times` lists (--num-prompts entries each), so the JSON
to parse is as large as a real sweep's. Values come from a toy latency model.
"""

import argparse
import json
import math
import os
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--num-prompts", type=int, default=200)
    ap.add_argument("--runs-per-combination", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(7)
    serve = [{"max_num_seqs": s, "max_num_batched_tokens": t}
             for s in (8, 16, 32, 64, 128) for t in (2048, 8192)]
    combos_needed = math.ceil(args.runs / args.runs_per_combination)
    levels = math.ceil(combos_needed / len(serve))
    # 1, 2, 3, 4, 6, 8, 12, 16, 24, …: powers of two and the halves between them.
    values = [1] + [2 ** ((i + 1) // 2) if i % 2 else 3 * 2 ** (i // 2 - 1) for i in range(1, levels)]
    bench = [{"max_concurrency": c} for c in values]
    os.makedirs(args.out, exist_ok=True)
    made = 0
    csv_rows = []
    for sv in serve:
        for bv in bench:
            if made >= args.runs:
                break
            name = "SERVE--" + "-".join(f"{k}={v}" for k, v in sv.items()) + \
                   "-BENCH--" + "-".join(f"{k}={v}" for k, v in bv.items())
            d = os.path.join(args.out, name)
            os.makedirs(d, exist_ok=True)
            runs = []
            for run in range(min(args.runs_per_combination, args.runs - made)):
                conc = bv["max_concurrency"]
                running = min(conc, sv["max_num_seqs"])
                chunk = 1.0 if sv["max_num_batched_tokens"] >= 8192 else 1.15
                tpot = 5.0 * (1 + running / 32) * chunk * rng.uniform(0.97, 1.03)
                ttft = (30 + 3 * running + 300 * max(0, conc - sv["max_num_seqs"]) / sv["max_num_seqs"]) \
                    * rng.uniform(0.95, 1.05)
                e2el = ttft + 127 * tpot
                n = args.num_prompts
                duration = n * e2el / 1000 / conc
                thr = n / duration
                rec = {
                    "date": "20261127-120000", "endpoint_type": "vllm", "backend": "vllm",
                    "label": None, "model_id": "Qwen/Qwen3-0.6B", "tokenizer_id": "Qwen/Qwen3-0.6B",
                    "num_prompts": n, "request_rate": "inf", "burstiness": 1.0,
                    "max_concurrency": conc, "duration": duration, "completed": n, "failed": 0,
                    "total_input_tokens": n * 1024, "total_output_tokens": n * 128,
                    "request_throughput": thr, "request_goodput": None,
                    "output_throughput": thr * 128, "total_token_throughput": thr * 1152,
                    "latencies": [e2el / 1000 * rng.uniform(0.8, 1.2) for _ in range(n)],
                    "queue_times": [rng.uniform(0, 0.01) for _ in range(n)],
                    "max_output_tokens_per_s": thr * 140, "max_concurrent_requests": conc,
                    "rtfx": 0.0,
                }
                for m, v in (("ttft", ttft), ("tpot", tpot), ("itl", tpot), ("e2el", e2el)):
                    rec.update({f"mean_{m}_ms": v, f"median_{m}_ms": v * 0.96,
                                f"std_{m}_ms": v * 0.1, f"p99_{m}_ms": v * 1.5})
                rec["run_number"] = run
                rec.update(sv)
                rec.update(bv)
                with open(os.path.join(d, f"run={run}.json"), "w") as f:
                    json.dump(rec, f, indent=4)
                runs.append(rec)
                made += 1
            with open(os.path.join(d, "summary.json"), "w") as f:
                json.dump(runs, f, indent=4)
            csv_rows.extend(runs)
    cols = list(csv_rows[0].keys())
    with open(os.path.join(args.out, "summary.csv"), "w") as f:
        f.write("," + ",".join(cols) + "\n")
        for i, r in enumerate(csv_rows):
            f.write(str(i) + "," + ",".join('"%s"' % r[c] if isinstance(r[c], list) else str(r[c]) for c in cols) + "\n")
    combos = {(r["max_num_seqs"], r["max_num_batched_tokens"], r["max_concurrency"]) for r in csv_rows}
    print(f"wrote {made} runs in {len(combos)} combinations to {args.out}")


if __name__ == "__main__":
    main()
