#!/usr/bin/env python3
"""A pymodbus client for the fault-injection tests (`proxy --fault`): it
makes --reads reads of holding registers --addr..--addr+1 from unit 1 and
prints one JSON line per read: {"ms": round trip, "registers": [...]} or
{"ms": ..., "error": "...", "exception": CODE or null}. --rtu speaks RTU
over TCP (pymodbus checks each reply's CRC), else Modbus/TCP. Every
request is bounded by --timeout; no retries, so each fault shows as it
was dealt. Exit status 0 once every read was made, whatever the answers:
the test judges them.
"""
import argparse
import json
import logging
import sys
import time

from pymodbus import FramerType
from pymodbus.client import ModbusTcpClient

logging.disable(logging.CRITICAL)

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--addr", type=int, default=0)
p.add_argument("--reads", type=int, default=3)
p.add_argument("--timeout", type=float, default=2.0)
p.add_argument("--rtu", action="store_true")
a = p.parse_args()

framer = FramerType.RTU if a.rtu else FramerType.SOCKET
c = ModbusTcpClient("127.0.0.1", port=a.port, framer=framer, timeout=a.timeout, retries=0)
if not c.connect():
    sys.exit("cannot connect")
for _ in range(a.reads):
    start = time.monotonic()
    try:
        r = c.read_holding_registers(a.addr, count=2, device_id=1)
        ms = round((time.monotonic() - start) * 1000, 1)
        if r.isError():
            line = {"ms": ms, "error": str(r), "exception": getattr(r, "exception_code", None)}
        else:
            line = {"ms": ms, "registers": list(r.registers)}
    except Exception as exc:  # ModbusIOException: no (good) answer in time
        ms = round((time.monotonic() - start) * 1000, 1)
        line = {"ms": ms, "error": f"{type(exc).__name__}: {exc}", "exception": None}
    print(json.dumps(line), flush=True)
    if "error" in line and not c.connected:
        c.connect()
c.close()
