#!/usr/bin/env python3
"""A pymodbus client that uses every function code `--decode modbus`
covers (1, 2, 3, 4, 5, 6, 15, 16, 23) and provokes two exception responses
(addresses past the end of tests/peers/modbus_server.py's datastore), for
the capture tshark and `--decode` are compared on
(tests/fixtures/modbus-functions.pcap, tests/fixtures/make_decode_captures.sh).

Prints one line per request ("ok N" or "exception N code C") and exits 0
when every answer is the one expected.
"""
import argparse
import logging
import sys

from pymodbus.client import ModbusTcpClient
from pymodbus.pdu import ExceptionResponse

UNIT = 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    logging.disable(logging.CRITICAL)
    c = ModbusTcpClient(a.host, port=a.port, timeout=5, retries=0)
    if not c.connect():
        print("cannot connect", file=sys.stderr)
        return 1
    steps = [
        lambda: c.read_coils(0, count=16, device_id=UNIT),
        lambda: c.read_discrete_inputs(0, count=8, device_id=UNIT),
        lambda: c.read_holding_registers(0, count=5, device_id=UNIT),
        lambda: c.read_input_registers(0, count=4, device_id=UNIT),
        lambda: c.write_coil(3, True, device_id=UNIT),
        lambda: c.write_register(10, 77, device_id=UNIT),
        lambda: c.write_coils(20, [True, False, True, True, False, False, True, True, True, False], device_id=UNIT),
        lambda: c.write_registers(30, [1, 2, 3], device_id=UNIT),
        lambda: c.readwrite_registers(read_address=30, read_count=3, write_address=40, values=[5, 6], device_id=UNIT),
        lambda: c.read_holding_registers(99, count=2, device_id=UNIT),
        lambda: c.read_coils(200, count=5, device_id=UNIT),
    ]
    ok = True
    for i, step in enumerate(steps, 1):
        r = step()
        if isinstance(r, ExceptionResponse):
            print("exception %d code %d" % (i, r.exception_code), flush=True)
            ok &= i >= 10
        else:
            print("ok %d" % i, flush=True)
            ok &= i < 10
    c.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
