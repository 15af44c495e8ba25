"""Two checkouts of madoguchi side by side: interleaved bench.mail runs, for a decision.

    .venv/bin/python -m bench.mail_pairs ../before . --pairs 5
    .venv/bin/python -m bench.mail_pairs ../before . --pairs 5 --url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

The machine's speed drifts by tens of per cent within minutes (docs/performance.md), so
a change is judged by pairs run back to back, the order alternating (A B, B A, …), not
by two separate runs of ``bench.mail``. Each run is ``bench.mail``'s own madoguchi run
(8 clients, 2,000 mails, a relay sink, a fresh database), ``madoguchi serve`` started
from the checkout named (its directory on PYTHONPATH; the same virtualenv). No relay
ceiling and no bare aiosmtpd here: only what differs between the two. Printed per run
and as medians: acknowledgements delivered per second, accepted mails per second,
p50 / p99 DATA→250, and CPU per mail of the service and of its parser process.
The PostgreSQL database must exist and be disposable.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

from bench import mail


async def pairs(a: Path, b: Path, count: int, url: str | None, messages: int, clients: int) -> None:
    results: dict[str, list[mail.Result]] = {"A": [], "B": []}
    for n in range(count):
        order = (("A", a), ("B", b)) if n % 2 == 0 else (("B", b), ("A", a))
        for side, root in order:
            mail.ROOT = root
            workdir = Path(tempfile.mkdtemp(prefix="bench-mail-pairs-"))
            run = await mail._madoguchi_run(
                url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}", clients, 0, messages, workdir
            )
            results[side].append(run)
            print(
                f"{side} acks {run.acks:5.0f}/s  accepted {run.accepted:5.0f}/s  "
                f"p50 {run.p50:5.1f} ms  p99 {run.p99:5.1f} ms  "
                f"CPU service {run.service_cpu:5.0f} µs  parser {run.parser_cpu:4.0f} µs",
                flush=True,
            )
    for side, root in (("A", a), ("B", b)):
        runs = results[side]

        def median(values: list[float]) -> float:
            return statistics.median(values)

        print(
            f"{side} ({root}) medians: acks {median([r.acks for r in runs]):.0f}/s, "
            f"p50 {median([r.p50 for r in runs]):.1f} ms, p99 {median([r.p99 for r in runs]):.1f} ms, "
            f"service CPU {median([r.service_cpu for r in runs]):.0f} µs/mail"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("a", type=Path, help="checkout A (e.g. the code before)")
    parser.add_argument("b", type=Path, help="checkout B (e.g. the change)")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--url", help="a disposable PostgreSQL database (default: SQLite in a temp dir)")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(pairs(args.a.resolve(), args.b.resolve(), args.pairs, args.url, args.messages, args.clients))


if __name__ == "__main__":
    main()
