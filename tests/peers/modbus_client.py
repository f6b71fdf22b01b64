#!/usr/bin/env python3
"""Modbus/TCP client (pymodbus) that made the p1ge0n `replay` fixtures, and
the live client that `replay --serve` tests answer.

Connects to --host/--port and runs one fixed, deterministic sequence of eight
requests against tests/peers/modbus_server.py (unit id 1), pausing --pause
seconds between requests:

  tid  request                                   expected answer
  T+0  read holding registers 0..9               0, 7, 14, ... 63
  T+1  write single register 50 = 1234           echo
  T+2  read holding register 50                  1234
  T+3  write multiple registers 60..62 = 1,2,3   echo of address and count
  T+4  read holding registers 60..62             1, 2, 3
  T+5  read coils 0..15                          on, off, on, off, ...
  T+6  read input registers 0..3                 1000 .. 1003
  T+7  read holding registers 99..100            exception 0x83, code 2

T is --first-tid (default 1): Modbus/TCP transaction ids are fixed, not
random. The sequence is idempotent: every register it reads was either never
written or written by this same sequence just before, so each run (and each
replay of it) gets byte-identical answers from any server that only ever saw
this sequence.

--alter N sends a different request (a read of register 98) as request
number N, for tests that must see a conversation go off the script.

--split N writes request number N (1-based; 0 = none) in two send() calls
with TCP_NODELAY set and --split-pause between them, cut after --split-at
bytes, so that one Modbus request spans two TCP segments on the wire.

Exits 0 if every answer is as expected, 1 otherwise (with the reason on
stderr).
"""
import argparse
import logging
import socket
import sys
import time

from pymodbus.client import ModbusTcpClient
from pymodbus.pdu import ExceptionResponse

UNIT = 1


class SplittingClient(ModbusTcpClient):
    """A sync pymodbus client that can write one chosen request in two parts."""

    def __init__(self, *args, split=0, split_at=5, split_pause=0.02, **kwargs):
        super().__init__(*args, **kwargs)
        self.split = split
        self.split_at = split_at
        self.split_pause = split_pause
        self.sent = 0

    def connect(self):
        ok = super().connect()
        if ok:
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return ok

    def send(self, request, addr=None):
        self.sent += 1
        if self.sent != self.split or not self.socket:
            return super().send(request, addr)
        cut = max(1, min(self.split_at, len(request) - 1))
        self.socket.sendall(request[:cut])
        time.sleep(self.split_pause)
        self.socket.sendall(request[cut:])
        return len(request)


def steps(c, alter=0):
    """(description, call, check) for each request, in order; request number
    `alter` (1-based, 0 = none) reads register 98 instead, so that it is not
    what was captured."""
    altered = ("read holding register 98 (altered)",
               lambda: c.read_holding_registers(98, count=1, device_id=UNIT),
               lambda r: True)
    return [altered if alter == i + 1 else s for i, s in enumerate(_steps(c))]


def _steps(c):
    return [
        ("read holding registers 0..9",
         lambda: c.read_holding_registers(0, count=10, device_id=UNIT),
         lambda r: r.registers == [i * 7 for i in range(10)]),
        ("write register 50 = 1234",
         lambda: c.write_register(50, 1234, device_id=UNIT),
         lambda r: r.address == 50 and r.registers == [1234]),
        ("read holding register 50",
         lambda: c.read_holding_registers(50, count=1, device_id=UNIT),
         lambda r: r.registers == [1234]),
        ("write registers 60..62 = 1, 2, 3",
         lambda: c.write_registers(60, [1, 2, 3], device_id=UNIT),
         lambda r: r.address == 60 and r.count == 3),
        ("read holding registers 60..62",
         lambda: c.read_holding_registers(60, count=3, device_id=UNIT),
         lambda r: r.registers == [1, 2, 3]),
        ("read coils 0..15",
         lambda: c.read_coils(0, count=16, device_id=UNIT),
         lambda r: r.bits[:16] == [i % 2 == 0 for i in range(16)]),
        ("read input registers 0..3",
         lambda: c.read_input_registers(0, count=4, device_id=UNIT),
         lambda r: r.registers == [1000, 1001, 1002, 1003]),
        ("read holding registers 99..100 (out of range)",
         lambda: c.read_holding_registers(99, count=2, device_id=UNIT),
         lambda r: isinstance(r, ExceptionResponse) and r.function_code == 0x83
         and r.exception_code == 2),
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--first-tid", type=int, default=1)
    p.add_argument("--pause", type=float, default=0.02)
    p.add_argument("--split", type=int, default=0)
    p.add_argument("--split-at", type=int, default=5)
    p.add_argument("--split-pause", type=float, default=0.02)
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--alter", type=int, default=0)
    a = p.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.ERROR)
    logging.getLogger("pymodbus").setLevel(logging.ERROR)

    c = SplittingClient(a.host, port=a.port, timeout=a.timeout, retries=0,
                        split=a.split, split_at=a.split_at, split_pause=a.split_pause)
    if not c.connect():
        print(f"cannot connect to {a.host}:{a.port}", file=sys.stderr)
        return 1
    # The transaction manager hands out next_tid + 1 to the next request.
    c.transaction.next_tid = a.first_tid - 1
    ok = True
    try:
        for i, (what, call, check) in enumerate(steps(c, a.alter)):
            if i:
                time.sleep(a.pause)
            tid = a.first_tid + i
            try:
                r = call()
            except Exception as exc:  # pymodbus raises ModbusIOException etc.
                print(f"request {i + 1} ({what}): {exc}", file=sys.stderr)
                ok = False
                break
            if r.transaction_id != tid or not check(r):
                shown = (f"exception 0x{r.function_code:02x} code {r.exception_code}"
                         if isinstance(r, ExceptionResponse) else repr(r))
                print(f"request {i + 1} ({what}): unexpected answer {shown} "
                      f"(tid {r.transaction_id}, expected {tid})", file=sys.stderr)
                ok = False
    finally:
        c.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
