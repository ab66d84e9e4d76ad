"""ALB access-log parsing at scale: our parse + aggregation against plain gzip line iteration.

Generates a deterministic, realistic ALB log file (one load balancer, five minutes of traffic
like the files AWS writes: mostly 2xx, some 3xx/4xx/5xx, ALB-generated 502/503/460, WAF blocks,
redirects, HTTP/2, gRPC and WebSocket entries, IPv4 and IPv6 clients, `-1` times, user agents with
escaped quotes) and prints, in one run:

- the floor: iterating the file's lines with the standard library's `gzip` module;
- our full pipeline (`alb_logs.service.analyze`: streaming decompression, parsing, aggregation,
  then the EMF documents and the summary) with the default number of worker processes (one per
  CPU) and with one process; lines per second; the ratio to the floor (target: at most 2.0);
- the peak memory growth of the pipeline (RSS above the interpreter's baseline, workers
  included) for 1M and for 3M lines (target: under 64 MB, and not growing with the file).

    uv run python benchmarks/alb_logs.py [--lines 1000000] [--skip-3m]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions")]

LB = "app/shop-prod/50dc6c495c0c9188"
ACCOUNT = "123456789012"
TG = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/shop-web/73e2d6bc24d8a067"
CERT = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/9f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "curl/8.11.0",
    "python-requests/2.32.3",
    "grpc-go/1.68.0",
)
#: A scanner whose user agent carries escaped quotes, in one request of 500.
SCANNER = 'sqlmap/1.8 (\\"https://sqlmap.org\\")'
PATHS = ("/", "/api/cart", "/api/items/{n}", "/api/search?q=shoes&page={n}", "/static/app.{n}.js", "/login")


def client_pool(rnd: random.Random, size: int = 40_000) -> list[str]:
    """Client addresses, 8% IPv6; `_line` draws from them with a heavy tail (a few busy clients)."""
    pool = []
    for _ in range(size):
        if rnd.random() < 0.08:
            pool.append(f"2001:db8:{rnd.randrange(1 << 16):x}::{rnd.randrange(1 << 16):x}")
        else:
            first = rnd.choice((198, 203, 192))
            pool.append(f"{first}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}")
    return pool


def _line(rnd: random.Random, second: float, clients: list[str]) -> str:
    """One entry; the mix is roughly that of a busy shop front end."""
    minute, sec = divmod(second, 60)
    time_ = f"2026-11-24T10:{int(minute):02d}:{sec:09.6f}Z"
    # Pareto-distributed ranks: the top 1% of clients send about a fifth of the requests.
    client = clients[
        min(int(rnd.paretovariate(0.9)) - 1, len(clients) - 1)
        if rnd.random() < 0.5
        else rnd.randrange(len(clients))
    ]
    port = rnd.randrange(1024, 65535)
    target = f"10.0.{rnd.randrange(1, 4)}.{rnd.randrange(10, 40)}:8080"
    url = f"https://shop.example.com:443{rnd.choice(PATHS).format(n=rnd.randrange(5000))}"
    kind, verb, proto = "https", rnd.choice(("GET", "GET", "GET", "POST")), "HTTP/1.1"
    roll = rnd.random()
    actions, redirect, error, classification, reason = "waf,forward", "-", "-", "-", "-"
    elb, tgt = "200", "200"
    rq, tp, rs = f"{rnd.random() / 1000:.3f}", f"{rnd.expovariate(12):.3f}", "0.000"
    if roll < 0.03:  # WAF block: answered by the load balancer, no target
        actions, elb, tgt, target, tp = "waf", "403", "-", "-", "-1"
    elif roll < 0.05:  # redirect rule
        actions, elb, tgt, target, tp = "redirect", "301", "-", "-", "-1"
        redirect, kind, url = (
            "https://shop.example.com:443/",
            "http",
            url.replace("https", "http").replace(":443", ":80"),
        )
    elif roll < 0.058:  # no healthy target / target reset
        elb, tgt, target, tp, rs = rnd.choice(("502", "503", "460")), "-", "-", "-1", "-1"
    elif roll < 0.07:
        elb = tgt = rnd.choice(("500", "504", "500"))
    elif roll < 0.12:
        elb = tgt = rnd.choice(("404", "401", "400"))
    elif roll < 0.16:
        kind, proto = "h2", "HTTP/2.0"
    elif roll < 0.165:
        kind, proto, elb, tgt = "grpcs", "HTTP/2.0", "200", "200"
    elif roll < 0.17:
        kind, proto, elb, tgt = "wss", "HTTP/1.1", "101", "101"
    if roll > 0.995:
        classification, reason = "Ambiguous", "UndefinedContentLengthSemantics"
    target_list = f'"{target}"' if target != "-" else '"-"'
    status_list = f'"{tgt}"' if tgt != "-" else '"-"'
    tls = rnd.choice(("TLSv1.2", "TLSv1.3", "TLSv1.3")) if kind != "http" else "-"
    cipher = "ECDHE-RSA-AES128-GCM-SHA256" if tls != "-" else "-"
    agent = SCANNER if rnd.random() < 0.002 else rnd.choice(AGENTS)
    trace = f"Root=1-{int(second):08x}-{rnd.getrandbits(96):024x}"
    return (
        f"{kind} {time_} {LB} {client}:{port} {target} {rq} {tp} {rs} {elb} {tgt} "
        f'{rnd.randrange(200, 2000)} {rnd.randrange(300, 90000)} "{verb} {url} {proto}" "{agent}" '
        f'{cipher} {tls} {TG} "{trace}" "shop.example.com" "{CERT}" {rnd.choice((0, 1, 2))} {time_} '
        f'"{actions}" "{redirect}" "{error}" {target_list} {status_list} "{classification}" "{reason}" '
        f"TID_{rnd.getrandbits(64):016x}\n"
    )


def generate(path: Path, lines: int, seed: int = 2026) -> None:
    """`lines` entries over five minutes, gzip-compressed (two members, as AWS sometimes writes)."""
    rnd = random.Random(seed)
    clients = client_pool(rnd)
    step = 300 / lines
    half = lines // 2
    with path.open("wb") as out:
        for start, stop in ((0, half), (half, lines)):
            member = zlib.compressobj(2, zlib.DEFLATED, 31)  # wbits 31: one gzip member
            batch: list[str] = []
            for index in range(start, stop):
                batch.append(_line(rnd, index * step, clients))
                if len(batch) == 10_000:
                    out.write(member.compress("".join(batch).encode()))
                    batch.clear()
            out.write(member.compress("".join(batch).encode()))
            out.write(member.flush())


def floor_seconds(path: Path) -> float:
    start = time.perf_counter()
    with gzip.open(path, "rb") as stream:
        for _ in stream:
            pass
    return time.perf_counter() - start


_MEASURE = """
import json, resource, sys, time
sys.path[:0] = [{functions!r}]
from alb_logs.emf import metric_documents
from alb_logs.service import analyze
from alb_logs.settings import AlbLogSettings
from alb_logs.summary import summarize
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
settings = AlbLogSettings(workers={workers})
start = time.perf_counter()
with open({path!r}, "rb") as source:
    aggregate = analyze(source, name="bench", settings=settings)
documents = metric_documents(aggregate.minutes.values())
summary = summarize(aggregate, top_n=10)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({{"seconds": seconds, "lines": aggregate.lines, "requests": aggregate.requests,
    "bad": aggregate.bad_lines, "documents": len(documents), "growth_kb": peak - baseline,
    "worker_peak_kb": children, "baseline_kb": baseline}}))
"""


def measure(path: Path, workers: int) -> dict[str, float]:
    """Run the pipeline in a fresh interpreter, so its memory figures are its own."""
    code = _MEASURE.format(functions=str(ROOT / "functions"), workers=workers, path=str(path))
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the measured run failed:\n{done.stderr}")
    out = done.stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def worker_growth(run: dict[str, float]) -> str:
    """A worker is forked from the measured interpreter (sharing its pages): its peak RSS, shown
    next to the interpreter's baseline, bounds what it added."""
    if not run["worker_peak_kb"]:
        return "no workers"
    return (
        f"worker peak RSS {run['worker_peak_kb'] / 1024:.1f} MB "
        f"(forked from a {run['baseline_kb'] / 1024:.1f} MB interpreter)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--skip-3m", action="store_true", help="skip the 3M-line memory run")
    args = parser.parse_args()
    cpus = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "alb.log.gz"
        start = time.perf_counter()
        generate(path, args.lines)
        print(
            f"generated {args.lines:,} lines ({path.stat().st_size / 1e6:.1f} MB gzip) "
            f"in {time.perf_counter() - start:.1f} s"
        )
        floor = min(floor_seconds(path) for _ in range(2))
        print(f"floor (stdlib gzip line iteration): {floor:.2f} s, {args.lines / floor:,.0f} lines/s")
        for workers, label in ((0, f"default: one process per CPU, {cpus} here"), (1, "one process")):
            run = min((measure(path, workers) for _ in range(2)), key=lambda r: r["seconds"])
            assert run["lines"] == args.lines and run["bad"] == 0, run
            print(
                f"secauto parse + aggregation ({label}): {run['seconds']:.2f} s, "
                f"{args.lines / run['seconds']:,.0f} lines/s, {run['seconds'] / floor:.2f}x the floor "
                f"(target <= 2.0x); peak memory growth {run['growth_kb'] / 1024:.1f} MB "
                f"(parent), {worker_growth(run)}; {run['documents']:.0f} EMF documents"
            )
        if not args.skip_3m:
            big = Path(folder) / "alb3.log.gz"
            generate(big, 3 * args.lines)
            for workers in (0, 1):
                run = measure(big, workers)
                print(
                    f"3x the lines ({3 * args.lines:,}), workers={workers or cpus}: {run['seconds']:.2f} s, "
                    f"peak memory growth {run['growth_kb'] / 1024:.1f} MB (parent), "
                    f"{worker_growth(run)}"
                )


if __name__ == "__main__":
    main()
