"""Argon2id cost, and what a burst of password submissions does to the event loop.

    .venv/bin/python -m bench.passwords                 # 50 hashes at once
    .venv/bin/python -m bench.passwords --burst 200

Prints the latency of one hash and one verify, the wall time of a burst hashed through
``core.passwords`` (pool of MAX_PARALLEL threads), and the longest event-loop stall seen
meanwhile: the number Slack's 3-second ack budget cares about.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from core import passwords


def _one(runs: int) -> tuple[float, float]:
    hashes, verifies = [], []
    stored = passwords._hasher.hash("Sakura2026")
    for _ in range(runs):
        start = time.perf_counter()
        passwords._hasher.hash("Sakura2026")
        hashes.append(time.perf_counter() - start)
        start = time.perf_counter()
        passwords._verify(stored, "Sakura2026")
        verifies.append(time.perf_counter() - start)
    return statistics.median(hashes) * 1000, statistics.median(verifies) * 1000


async def _burst(count: int) -> tuple[float, float]:
    worst = 0.0
    running = True

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst = max(worst, now - last)
            last = now

    beat = asyncio.create_task(ticker())
    start = time.perf_counter()
    await asyncio.gather(*(passwords.hash_password(f"Sakura{i}2026") for i in range(count)))
    wall = time.perf_counter() - start
    running = False
    await beat
    return wall, worst * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    hash_ms, verify_ms = _one(args.runs)
    print(f"argon2id t={passwords.TIME_COST} m={passwords.MEMORY_KIB} KiB p={passwords.PARALLELISM}")
    print(f"one hash p50 {hash_ms:.1f} ms, one verify p50 {verify_ms:.1f} ms")
    wall, stall = asyncio.run(_burst(args.burst))
    print(
        f"burst of {args.burst} through a pool of {passwords.MAX_PARALLEL}: {wall:.2f} s, "
        f"{args.burst / wall:.1f} hashes/s, longest event-loop stall {stall:.1f} ms"
    )


if __name__ == "__main__":
    main()
