"""The real local server under 1, 8 and 32 concurrent clients, each level for a bounded time.

Starts ``vitrine serve`` in its own process over a prepared local home (tiny models and a small demo
catalog, unless VITRINE_HOME points at one already prepared), then keeps N clients busy for ``--seconds``
each (closed loop: a client sends its next photo when the answer to the last one arrives) with the demo's
street photos on ``POST /api/search``. With the whole-photo box (the default) every request runs
embed → k-NN → catalog; ``--detect`` lets the detector pick the item instead.

Per level: requests, throughput, p50/p95/p99 latency, errors, and where the time goes, from the server's
own ``timing_ms``: in models, in Vitrine's other stages (validation, index, catalog), and the rest (HTTP,
JSON and base64, waiting for one of the server's worker threads). Writes
``bench/results/search_load.json`` and ``.png``. Last line:
``clients=1,8,32 p99_ms=<a>,<b>,<c> errors=<n> model_share=<a>,<b>,<c>``.

Usage: ``python bench/search_load.py [--clients 1 8 32] [--seconds 20] [--detect]``
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
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from _common import RESULTS, VITRINE, local_env, percentile, prepare_home, pyplot, save, write_result


@dataclass(frozen=True)
class Sample:
    latency_ms: float
    model_ms: float
    stages_ms: float
    ok: bool


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def search(port: int, body: bytes) -> Sample:
    start = time.perf_counter()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.request("POST", "/api/search", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = json.loads(response.read())
        connection.close()
    except (OSError, ValueError):
        return Sample((time.perf_counter() - start) * 1000, 0.0, 0.0, False)
    latency = (time.perf_counter() - start) * 1000
    ok = response.status == 200 and answer.get("status") in ("results", "choose", "no_object")
    timing = answer.get("timing_ms", {}) if isinstance(answer, dict) else {}
    models = sum(v for k, v in timing.items() if k.endswith("_model"))
    return Sample(latency, models, sum(timing.values()), ok)


def load(port: int, bodies: list[bytes], clients: int, seconds: float) -> list[Sample]:
    """``clients`` threads, each sending one request after the other until ``seconds`` have passed."""
    samples: list[Sample] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(offset: int) -> None:
        turn = offset
        while time.perf_counter() < deadline:
            sample = search(port, bodies[turn % len(bodies)])
            turn += 1
            with lock:
                samples.append(sample)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


def summarise(clients: int, seconds: float, samples: list[Sample]) -> dict[str, float]:
    latencies = [s.latency_ms for s in samples]
    total = sum(latencies) or 1.0
    models = sum(s.model_ms for s in samples)
    stages = sum(s.stages_ms for s in samples)
    figures = {
        "clients": clients,
        "requests": len(samples),
        "throughput_rps": len(samples) / seconds,
        "p50_ms": percentile(latencies, 0.50),
        "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99),
        "mean_ms": statistics.fmean(latencies) if latencies else 0.0,
        "errors": sum(not s.ok for s in samples),
        "share_models": models / total,
        "share_vitrine_stages": (stages - models) / total,
        "share_http_queue_rest": max(0.0, 1 - stages / total),
    }
    print(
        f"{clients:>3} clients: {figures['requests']:>5} requests, {figures['throughput_rps']:6.1f}/s  "
        f"p50={figures['p50_ms']:7.1f} p95={figures['p95_ms']:7.1f} p99={figures['p99_ms']:7.1f} ms  "
        f"errors={figures['errors']}  time in models {figures['share_models']:.0%}, "
        f"other stages {figures['share_vitrine_stages']:.0%}, HTTP/queue/rest {figures['share_http_queue_rest']:.0%}",
        flush=True,
    )
    return figures


def plot(levels: list[dict[str, float]], path: Path, title: str) -> None:
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    clients = [str(level["clients"]) for level in levels]
    for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        left.plot(clients, [level[key] for level in levels], marker="o", label=label)
    left.set_xlabel("concurrent clients")
    left.set_ylabel("latency (ms)")
    left.set_yscale("log")
    left.legend()
    left.grid(True, alpha=0.3)
    bottom = [0.0] * len(levels)
    for key, label in (
        ("share_models", "models"),
        ("share_vitrine_stages", "validate, index, catalog"),
        ("share_http_queue_rest", "HTTP, JSON, queueing"),
    ):
        values = [level[key] for level in levels]
        right.bar(clients, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    right.set_xlabel("concurrent clients")
    right.set_ylabel("share of request time")
    right.legend(fontsize=8)
    figure.suptitle(title)
    save(figure, path)


def wait_healthy(port: int, server: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"vitrine serve exited with {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("vitrine serve did not become healthy")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=20.0, help="per level")
    parser.add_argument("--products", type=int, default=24, help="demo catalog size when preparing")
    parser.add_argument("--detect", action="store_true", help="no box: the detector picks the item")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    home = Path(os.environ.get("VITRINE_HOME") or tempfile.mkdtemp(prefix="vitrine-bench-"))
    prepare_home(home, args.products, street=12)
    street = sorted((home / "demo" / "street").glob("*.jpg"))
    box = {} if args.detect else {"box": [0, 0, 1, 1]}
    bodies = [
        json.dumps({"image": base64.b64encode(p.read_bytes()).decode(), **box}).encode() for p in street
    ]
    port = free_port()
    server = subprocess.Popen(
        [VITRINE, "serve", "--port", str(port)],
        env=local_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(port, server)
        for body in bodies:  # warm-up: every photo once
            search(port, body)
        print(
            f"vitrine serve (waitress, 4 worker threads), tiny models, {len(street)} street photos, "
            f"{'detector picks the item' if args.detect else 'whole-photo box'}; {os.cpu_count()} cores "
            f"shared by server and clients; {args.seconds:.0f} s per level",
            flush=True,
        )
        levels = [summarise(c, args.seconds, load(port, bodies, c, args.seconds)) for c in args.clients]
    finally:
        server.terminate()
        server.wait(timeout=30)

    report = {
        "command": "python bench/search_load.py "
        + " ".join(["--clients", *map(str, args.clients), "--seconds", f"{args.seconds:g}"])
        + (" --detect" if args.detect else ""),
        "server": "vitrine serve: waitress, 4 worker threads, tiny in-process models, SQLite, FAISS",
        "path": "detect -> embed -> k-NN -> catalog"
        if args.detect
        else "embed -> k-NN -> catalog (whole-photo box)",
        "seconds_per_level": args.seconds,
        "levels": levels,
    }
    path = write_result("search_load", report, args.out)
    plot(levels, path.with_suffix(".png"), "Local server under concurrent clients (tiny models, 2 cores)")
    print(f"wrote {path} and {path.with_suffix('.png')}")
    p99 = ",".join(f"{level['p99_ms']:.1f}" for level in levels)
    shares = ",".join(f"{level['share_models']:.2f}" for level in levels)
    print(
        f"clients={','.join(str(level['clients']) for level in levels)} p99_ms={p99} "
        f"errors={sum(level['errors'] for level in levels)} model_share={shares}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
