"""VPC flow logs at scale: our parse + detection against plain gzip line iteration.

Generates a deterministic, realistic flow-log file as S3 delivery writes it (gzip, a header
line naming the default v2 fields): clients of a web tier reaching its load balancer's nodes on
443 and 80, internal east-west traffic, a few port scanners, host sweepers and reject floods,
NODATA and SKIPDATA records. Prints, in one run:

- the floor: iterating the file's lines with the standard library's `gzip` module;
- our parse + detection (`auto_block.flowfile.count_stream` + `detect_locally`: streaming
  decompression, columnar counting, per-source distinct ports/addresses and REJECTs, the three
  detectors), records per second and the ratio to the floor (target: at most 2.5);
- the peak memory growth for 1M records and for 3M records with the same sources, and for 1M
  records with ten times the sources: memory follows the sources, not the records.

    uv run python benchmarks/flow_logs.py [--records 1000000] [--skip-3m]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
    "log-status"
)


def generate(path: Path, records: int, *, clients: int = 20_000, seed: int = 2026) -> None:
    """`records` records over five minutes, as one S3 flow-log file."""
    rnd = random.Random(seed)
    pool = [
        f"{rnd.choice((198, 203, 192))}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
        for _ in range(clients)
    ]
    nodes = ["10.0.1.12", "10.0.2.47", "10.0.3.88"]  # the load balancer's nodes
    apps = [f"10.0.{10 + i // 200}.{i % 200 + 10}" for i in range(60)]  # app tier
    databases = ["10.0.20.5", "10.0.20.6", "10.0.21.5"]  # what the app tier talks to
    servers = apps + databases
    enis = [f"eni-{rnd.getrandbits(68):017x}" for _ in range(40)]
    start = 1_795_600_000
    member = zlib.compressobj(6, zlib.DEFLATED, 31)
    with path.open("wb") as out:
        out.write(member.compress(f"{HEADER}\n".encode()))
        batch: list[str] = []
        for index in range(records):
            t = start + index * 300 // records

            def record(
                src: str, dst: str, port: int, packets: int, size: int, action: str, t: int = t
            ) -> str:
                sport = rnd.randrange(1024, 65535)
                flow = f"{src} {dst} {sport} {port} 6 {packets} {size}"
                return f"2 123456789012 {rnd.choice(enis)} {flow} {t} {t + 60} {action} OK"

            roll = rnd.random()
            if roll < 0.002:
                batch.append(f"2 123456789012 {rnd.choice(enis)} - - - - - - - {t} {t + 60} - NODATA")
            elif roll < 0.0022:
                batch.append(f"2 123456789012 {rnd.choice(enis)} - - - - - - - {t} {t + 60} - SKIPDATA")
            elif roll < 0.012:  # port scanners
                src = f"203.0.113.{rnd.randrange(1, 30)}"
                batch.append(record(src, rnd.choice(servers), rnd.randrange(1, 65535), 1, 44, "REJECT"))
            elif roll < 0.017:  # host sweepers on 22
                batch.append(
                    record(f"198.51.100.{rnd.randrange(1, 10)}", rnd.choice(servers), 22, 2, 120, "REJECT")
                )
            elif roll < 0.022:  # reject floods against 3389
                batch.append(record(f"192.0.2.{rnd.randrange(1, 5)}", "10.0.1.12", 3389, 1, 40, "REJECT"))
            elif roll < 0.25:  # east-west: the app tier to its databases and caches
                port = rnd.choice((5432, 6379, 8080))
                size = rnd.randrange(100, 50000)
                batch.append(
                    record(
                        rnd.choice(apps), rnd.choice(databases), port, rnd.randrange(1, 50), size, "ACCEPT"
                    )
                )
            else:  # internet clients of the web tier
                heavy = rnd.random() < 0.5
                src = pool[min(int(rnd.paretovariate(1.0)) - 1, clients - 1)] if heavy else rnd.choice(pool)
                port = rnd.choice((443, 443, 443, 80))
                size = rnd.randrange(60, 90000)
                batch.append(record(src, rnd.choice(nodes), port, rnd.randrange(1, 40), size, "ACCEPT"))
            if len(batch) == 10_000:
                out.write(member.compress(("\n".join(batch) + "\n").encode()))
                batch.clear()
        if batch:
            out.write(member.compress(("\n".join(batch) + "\n").encode()))
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
from auto_block.flowfile import count_stream, detect_locally
from auto_block.settings import AutoBlockSettings
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
with open({path!r}, "rb") as source:
    counts = count_stream(source, name="bench")
detections = detect_locally(counts, AutoBlockSettings())
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
by_detector = {{}}
for d in detections:
    by_detector[d.detector] = by_detector.get(d.detector, 0) + 1
print(json.dumps({{"seconds": seconds, "records": counts.records, "followed": len(counts.sources),
    "detections": by_detector, "growth_kb": peak - baseline}}))
"""


def measure(path: Path) -> dict[str, object]:
    """Run parse + detection in a fresh interpreter, so its memory figures are its own."""
    code = _MEASURE.format(functions=str(ROOT / "functions"), path=str(path))
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the measured run failed:\n{done.stderr}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--skip-3m", action="store_true", help="skip the 3M-record and many-sources runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "flow.log.gz"
        start = time.perf_counter()
        generate(path, args.records)
        size = path.stat().st_size / 1e6
        print(
            f"generated {args.records:,} records ({size:.1f} MB gzip) in {time.perf_counter() - start:.1f} s"
        )
        floor = min(floor_seconds(path) for _ in range(2))
        print(f"floor (stdlib gzip line iteration): {floor:.2f} s, {args.records / floor:,.0f} lines/s")
        run = min((measure(path) for _ in range(2)), key=lambda r: float(str(r["seconds"])))
        seconds = float(str(run["seconds"]))
        print(
            f"secauto parse + detection: {seconds:.2f} s, {args.records / seconds:,.0f} records/s, "
            f"{seconds / floor:.2f}x the floor (target <= 2.5x); peak memory growth "
            f"{float(str(run['growth_kb'])) / 1024:.1f} MB; sources followed {run['followed']}; "
            f"detections {run['detections']}"
        )
        if not args.skip_3m:
            for label, records, clients in (
                ("3x the records, same sources", 3 * args.records, 20_000),
                ("same records, 10x the sources", args.records, 200_000),
            ):
                other = Path(folder) / f"flow-{records}-{clients}.log.gz"
                generate(other, records, clients=clients)
                run = measure(other)
                print(
                    f"{label} ({records:,} records, {clients:,} client addresses): "
                    f"{float(str(run['seconds'])):.2f} s, peak memory growth "
                    f"{float(str(run['growth_kb'])) / 1024:.1f} MB, sources followed {run['followed']}"
                )


if __name__ == "__main__":
    main()
