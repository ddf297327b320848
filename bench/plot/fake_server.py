#!/usr/bin/env python3
"""A tiny OpenAI-compatible streaming server for making sweep fixtures with vLLM's own tools.

Only the Python standard library. It answers what `vllm bench sweep serve` and
`vllm bench serve --backend openai` need:

- GET  /health       -> 200
- GET  /v1/models    -> one model, "smollm2"
- POST /v1/completions (stream=true) -> one SSE chunk per token, then a usage chunk and [DONE]

Latency follows a toy batching model so that curves look like a real server's: at most
`--max-num-seqs` requests run at once (the rest queue), each step takes
`--step-ms * (1 + running / 8)`, and the prefill takes `--prefill-ms`. Unknown flags (the
sweep appends serve parameters such as `--max-num-batched-tokens`) are accepted and, where
named below, used.

Usage: python3 fake_server.py --port 8765 --max-num-seqs 16
"""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("-p", "--port", type=int, default=8000)
    p.add_argument("--max-num-seqs", type=int, default=16)
    p.add_argument("--max-num-batched-tokens", type=int, default=2048)
    p.add_argument("--step-ms", type=float, default=4.0)
    p.add_argument("--prefill-ms", type=float, default=10.0)
    p.add_argument("--fail-on-start", action="store_true",
                   help="exit at once, to make the sweep record a server failure")
    args, _unknown = p.parse_known_args()
    return args


ARGS = parse_args()
SLOTS = threading.Semaphore(max(1, ARGS.max_num_seqs))
RUNNING = [0]
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):  # keep the sweep's console quiet
        pass

    def _json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self._json(200, {})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [
                {"id": "smollm2", "object": "model", "root": "smollm2", "owned_by": "fake"}]})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path != "/v1/completions":
            self._json(404, {"error": "not found"})
            return
        max_tokens = int(body.get("max_tokens") or 16)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        with SLOTS:
            with LOCK:
                RUNNING[0] += 1
            try:
                time.sleep(ARGS.prefill_ms / 1000)
                for i in range(max_tokens):
                    with LOCK:
                        running = RUNNING[0]
                    time.sleep(ARGS.step_ms * (1 + running / 8) / 1000)
                    chunk = {"id": "x", "object": "text_completion", "model": "smollm2",
                             "choices": [{"index": 0, "text": " tok", "finish_reason": None}]}
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.flush()
            finally:
                with LOCK:
                    RUNNING[0] -= 1
        usage = {"id": "x", "object": "text_completion", "model": "smollm2", "choices": [],
                 "usage": {"completion_tokens": max_tokens}}
        self.wfile.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def main():
    if ARGS.fail_on_start:
        raise SystemExit("fake_server: --fail-on-start given")
    server = ThreadingHTTPServer((ARGS.host, ARGS.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
