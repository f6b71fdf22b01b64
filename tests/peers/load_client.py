#!/usr/bin/env python3
"""Load client: N concurrent connections x M messages, every echo verified.

Each connection sends M distinct 64-byte lines (client and message number in
the text), one in flight at a time, and reads back exactly that many bytes;
anything else is a mismatch. All of it is bounded by --timeout. Prints one
summary line:

    clients=N messages=TOTAL ok=OK mismatches=X errors=E seconds=S

and exits 1 on any mismatch or error (first few details on stderr).
"""
import argparse
import asyncio
import sys
import time

import peerlib


def message(client, n, size):
    head = f"client {client:05d} message {n:05d} "
    return (head + "x" * (size - len(head) - 1) + "\n").encode()


async def one(host, port, client, count, size, stats, per_read):
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), per_read)
    except (OSError, asyncio.TimeoutError) as e:
        stats["errors"] += 1
        stats["details"].append(f"client {client}: connect: {e}")
        return
    try:
        for n in range(count):
            msg = message(client, n, size)
            writer.write(msg)
            await writer.drain()
            try:
                echo = await asyncio.wait_for(reader.readexactly(len(msg)), per_read)
            except asyncio.IncompleteReadError as e:
                stats["errors"] += 1
                stats["details"].append(f"client {client} msg {n}: closed after {len(e.partial)} bytes")
                return
            if echo == msg:
                stats["ok"] += 1
            else:
                stats["mismatches"] += 1
                stats["details"].append(f"client {client} msg {n}: sent {msg!r} got {echo!r}")
        writer.write_eof()
        rest = await asyncio.wait_for(reader.read(), per_read)
        if rest:
            stats["mismatches"] += 1
            stats["details"].append(f"client {client}: {len(rest)} unexpected bytes after the last echo")
    except (OSError, asyncio.TimeoutError) as e:
        stats["errors"] += 1
        stats["details"].append(f"client {client}: {type(e).__name__} {e}")
    finally:
        writer.close()


async def run(a):
    stats = {"ok": 0, "mismatches": 0, "errors": 0, "details": []}
    tasks = [one(a.host, a.port, c, a.messages, a.size, stats, a.read_timeout) for c in range(a.clients)]
    started = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), a.timeout)
    except asyncio.TimeoutError:
        stats["errors"] += 1
        stats["details"].append(f"overall timeout of {a.timeout}s")
    return stats, time.monotonic() - started


def main():
    p = peerlib.client_args(argparse.ArgumentParser(), timeout=60.0)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--messages", type=int, default=100)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--read-timeout", type=float, default=10.0)
    a = p.parse_args()
    stats, seconds = asyncio.run(run(a))
    total = a.clients * a.messages
    print(
        f"clients={a.clients} messages={total} ok={stats['ok']} "
        f"mismatches={stats['mismatches']} errors={stats['errors']} seconds={seconds:.2f}",
        flush=True,
    )
    for d in stats["details"][:10]:
        print(d, file=sys.stderr)
    ok = stats["mismatches"] == 0 and stats["errors"] == 0 and stats["ok"] == total
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
