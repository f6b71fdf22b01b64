#!/usr/bin/env python3
"""Modbus/TCP server (pymodbus) for the p1ge0n `replay` tests.

Binds --host (default 127.0.0.1) on --port (default 0: the kernel picks a free
port), and once listening prints the real port as the first stdout line (a
bare number, like the other peers in this folder). The port is read back from
the listening socket, never guessed.

The datastore is deterministic, so a fresh server answers a replayed request
with exactly the bytes it answered when the fixture was captured:
- device (unit) id 1 (--unit); a request for any other unit id is answered
  with an exception response (pymodbus 3.16.1: code 4, server device failure)
- holding registers 0..99 = i * 7
- input registers   0..99 = 1000 + i
- coils             0..99 = True on even addresses, False on odd
- discrete inputs   0..99 = True where i % 3 == 0
Writes change the datastore of this process only. Modbus/TCP responses carry
nothing time-dependent: the transaction id is echoed from the request.

Exits on SIGTERM/SIGINT, or by itself after --lifetime seconds, so it can
never hang a test run.
"""
import argparse
import asyncio
import logging
import signal
import sys

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

SIZE = 100


def device(unit):
    coils = [SimData(0, values=[i % 2 == 0 for i in range(SIZE)], datatype=DataType.BITS)]
    discrete = [SimData(0, values=[i % 3 == 0 for i in range(SIZE)], datatype=DataType.BITS)]
    holding = [SimData(0, values=[i * 7 for i in range(SIZE)], datatype=DataType.REGISTERS)]
    inputs = [SimData(0, values=[1000 + i for i in range(SIZE)], datatype=DataType.REGISTERS)]
    return SimDevice(id=unit, simdata=(coils, discrete, holding, inputs))


async def run(args):
    server = ModbusTcpServer(device(args.unit), address=(args.host, args.port))
    try:
        await server.serve_forever(background=True)
    except RuntimeError as exc:  # pymodbus: "Could not start listen"
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    if server.transport is None or not server.transport.sockets:
        print(f"could not listen on {args.host}:{args.port}", file=sys.stderr)
        return 1
    print(server.transport.sockets[0].getsockname()[1], flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), timeout=args.lifetime)
    except asyncio.TimeoutError:
        pass
    await server.shutdown()
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--unit", type=int, default=1)
    p.add_argument("--lifetime", type=float, default=120.0)
    p.add_argument("--verbose", action="store_true", help="pymodbus debug log on stderr")
    args = p.parse_args()
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # pymodbus configures its own logger; keep it on stderr and quiet.
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if args.verbose else logging.ERROR)
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
