#!/usr/bin/env python3
"""Modbus RTU server (pymodbus) for the serial and RTU tests.

Either on a serial line, --serial PATH (one end of a socat pty pair; 9600
8N1 unless --baud), printing `ready` as its first stdout line once the
line is open; or RTU over TCP, --tcp (binds 127.0.0.1 port 0 and prints the
port as its first stdout line, like the other peers here).

The datastore is modbus_server.py's (unit --unit, default 1): holding
registers 0..99 = i * 7, input registers 0..99 = 1000 + i, coils on at even
addresses, discrete inputs on where i % 3 == 0.

Exits on SIGTERM/SIGINT, or by itself after --lifetime seconds.
"""
import argparse
import asyncio
import logging
import signal
import sys

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from modbus_server import device


async def run(args):
    if args.serial:
        server = ModbusSerialServer(
            device(args.unit), framer=FramerType.RTU, port=args.serial, baudrate=args.baud
        )
    else:
        server = ModbusTcpServer(device(args.unit), framer=FramerType.RTU,
                                 address=("127.0.0.1", 0))
    await server.serve_forever(background=True)
    if args.serial:
        print("ready", flush=True)
    else:
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
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--serial")
    where.add_argument("--tcp", action="store_true")
    p.add_argument("--baud", type=int, default=9600)
    p.add_argument("--unit", type=int, default=1)
    p.add_argument("--lifetime", type=float, default=60.0)
    args = p.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.ERROR)
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
