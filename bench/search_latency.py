"""End-to-end search latency of the local server under concurrent load.

Starts `vitrine serve` in its own process over a prepared local home (tiny models and a small demo catalog
unless VITRINE_HOME points at one already prepared), then sends the street photos to POST /api/search
(whole-photo box, so every request runs embed → k-NN → catalog) — first from one client (the baseline),
then from 8 concurrent clients. Prints p50/p95 latency, the time the server spent in models against the
rest (HTTP, JSON, base64, index, catalog: the overhead Vitrine itself adds), the error count, and the
concurrent p95 as a ratio of the single-client p95. Last line: ``p95_overhead_ms=<x> errors=<n>``.

Usage: python bench/search_latency.py [--clients 8] [--requests 96]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

VITRINE = Path(sys.executable).with_name("vitrine")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def search(port: int, body: bytes) -> tuple[float, float, bool]:
    """(latency ms, model ms reported by the server, ok)."""
    start = time.perf_counter()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.request("POST", "/api/search", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = json.loads(response.read())
        connection.close()
    except (OSError, ValueError):
        return (time.perf_counter() - start) * 1000, 0.0, False
    latency = (time.perf_counter() - start) * 1000
    ok = response.status == 200 and answer.get("status") == "results"
    models = sum(v for k, v in answer.get("timing_ms", {}).items() if k.endswith("_model"))
    return latency, models, ok


def run(port: int, bodies: list[bytes], clients: int, requests: int) -> list[tuple[float, float, bool]]:
    work = [bodies[i % len(bodies)] for i in range(requests)]
    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(lambda body: search(port, body), work))


def report(name: str, results: list[tuple[float, float, bool]]) -> dict[str, float]:
    latencies = [r[0] for r in results]
    overheads = [r[0] - r[1] for r in results]
    figures = {
        "p50": percentile(latencies, 0.5),
        "p95": percentile(latencies, 0.95),
        "model_mean": statistics.fmean(r[1] for r in results),
        "overhead_p50": percentile(overheads, 0.5),
        "overhead_p95": percentile(overheads, 0.95),
        "errors": sum(not r[2] for r in results),
    }
    print(
        f"{name:<12} n={len(results):<4} p50={figures['p50']:8.1f} ms  p95={figures['p95']:8.1f} ms  "
        f"in models (mean)={figures['model_mean']:7.1f} ms  overhead p50={figures['overhead_p50']:6.1f} ms "
        f"p95={figures['overhead_p95']:6.1f} ms  errors={figures['errors']}"
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=96)
    args = parser.parse_args()

    home = Path(os.environ.get("VITRINE_HOME") or tempfile.mkdtemp(prefix="vitrine-bench-"))
    env = {**os.environ, "VITRINE_HOME": str(home), "VITRINE_PROFILE": "local"}
    subprocess.run(
        [VITRINE, "prepare", "--demo-products", "24", "--street", "12"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    street = sorted((home / "demo" / "street").glob("*.jpg"))
    bodies = [
        json.dumps({"image": base64.b64encode(p.read_bytes()).decode(), "box": [0, 0, 1, 1]}).encode()
        for p in street
    ]
    port = free_port()
    server = subprocess.Popen(
        [VITRINE, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/api/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        run(port, bodies, 1, len(bodies))  # warm-up: every photo once
        print(
            f"local server, tiny models, {len(street)} street photos, whole-photo box; {os.cpu_count()} cores"
        )
        single = report("1 client", run(port, bodies, 1, max(24, args.requests // 4)))
        loaded = report(f"{args.clients} clients", run(port, bodies, args.clients, args.requests))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"p95 latency under {args.clients} clients / 1 client: {loaded['p95'] / single['p95']:.2f}x; "
        f"p95 overhead: {loaded['overhead_p95'] / max(single['overhead_p95'], 1e-9):.2f}x"
    )
    print(f"p95_overhead_ms={loaded['overhead_p95']:.1f} errors={loaded['errors'] + single['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
