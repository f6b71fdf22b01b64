#!/usr/bin/env python3
"""Modbus RTU client (pymodbus) on a serial line: reads --count holding
registers from --addr of unit --unit and prints them as one JSON list, or
writes --write V,V,... there first (and then reads them back). Exit status
0 when every request was answered (pymodbus checked the CRC and the reply's
shape), 1 with pymodbus's reason on stderr otherwise. Every wait is bounded
by --timeout.
"""
import argparse
import json
import logging
import sys

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--serial", required=True)
    p.add_argument("--baud", type=int, default=9600)
    p.add_argument("--unit", type=int, default=1)
    p.add_argument("--addr", type=int, default=0)
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--write")
    p.add_argument("--timeout", type=float, default=3.0)
    args = p.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.CRITICAL)
    client = ModbusSerialClient(args.serial, framer=FramerType.RTU, baudrate=args.baud,
                                timeout=args.timeout, retries=0)
    if not client.connect():
        print(f"cannot open {args.serial}", file=sys.stderr)
        return 1
    try:
        if args.write:
            values = [int(v) for v in args.write.split(",")]
            rr = client.write_registers(args.addr, values, device_id=args.unit)
            if rr.isError():
                print(f"write: {rr}", file=sys.stderr)
                return 1
        rr = client.read_holding_registers(args.addr, count=args.count, device_id=args.unit)
        if rr.isError():
            print(f"read: {rr}", file=sys.stderr)
            return 1
        print(json.dumps(rr.registers), flush=True)
        return 0
    except Exception as exc:  # pymodbus raises ModbusIOException on timeouts
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
