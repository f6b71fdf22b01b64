#!/usr/bin/env python3
"""One Modbus/TCP read and one write (pymodbus), against a device that
p1ge0n simulates with `listen --rules`.

Reads --count holding registers at --address and prints them as
"read 42 ..."; then writes --write-value to register --write-address and
prints "write ok" when pymodbus accepted the echo the Modbus spec requires.
Exits 0 only if both worked and the read returned --expect (when given).
"""
import argparse
import logging
import sys

from pymodbus.client import ModbusTcpClient


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--address", type=int, default=0)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--expect", type=int, nargs="*")
    p.add_argument("--write-address", type=int, default=5)
    p.add_argument("--write-value", type=int, default=7)
    a = p.parse_args()
    logging.disable(logging.CRITICAL)
    c = ModbusTcpClient(a.host, port=a.port, timeout=5, retries=0)
    if not c.connect():
        print("cannot connect", file=sys.stderr)
        sys.exit(1)
    r = c.read_holding_registers(a.address, count=a.count, device_id=1)
    if r.isError():
        print("read failed: %s" % r, file=sys.stderr)
        sys.exit(1)
    print("read " + " ".join(str(v) for v in r.registers), flush=True)
    if a.expect is not None and list(r.registers) != a.expect:
        print("expected %s" % a.expect, file=sys.stderr)
        sys.exit(1)
    w = c.write_register(a.write_address, a.write_value, device_id=1)
    if w.isError() or w.address != a.write_address or w.registers != [a.write_value]:
        print("write failed: %s" % w, file=sys.stderr)
        sys.exit(1)
    print("write ok", flush=True)
    c.close()


if __name__ == "__main__":
    main()
