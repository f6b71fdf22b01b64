#!/usr/bin/env python3
"""A pymodbus client that reads holding registers and checks them: exits 0
when `--addr A --count N` reads back BASE + STEP * (A + i) for i < N (by
default 100+A .. 100+A+N-1, what modbus_exec_device.py holds; `--base 0
--step 7` for modbus_server.py's and modbus_rtu_server.py's), 1 with the
reason otherwise. Also checks that a read past the end is answered with
exception 2.
"""
import argparse
import logging
import sys

from pymodbus.client import ModbusTcpClient

logging.disable(logging.CRITICAL)

p = argparse.ArgumentParser()
p.add_argument("--host", default="127.0.0.1")
p.add_argument("--port", type=int, required=True)
p.add_argument("--addr", type=int, default=0)
p.add_argument("--count", type=int, default=5)
p.add_argument("--base", type=int, default=100)
p.add_argument("--step", type=int, default=1)
a = p.parse_args()

c = ModbusTcpClient(a.host, port=a.port, timeout=5, retries=0)
if not c.connect():
    sys.exit("cannot connect")
r = c.read_holding_registers(a.addr, count=a.count, device_id=1)
want = [a.base + a.step * (a.addr + i) for i in range(a.count)]
if r.isError() or r.registers != want:
    sys.exit(f"read {a.addr}+{a.count}: {r}, expected {want}")
r = c.read_holding_registers(999, count=2, device_id=1)
if not r.isError() or getattr(r, "exception_code", None) != 2:
    sys.exit(f"read past the end: {r}, expected exception 2")
c.close()
print("ok")
