#!/usr/bin/env python3
"""A Modbus/TCP device in a dozen lines, for `listen --exec-each`: one MBAP
request on stdin, its answer on stdout, then exit.

Holding and input registers i hold 100 + i (0..999). Functions 3 and 4 are
answered; anything else gets exception 1 (illegal function), and a read past
register 999 exception 2 (illegal data address). The transaction id and unit
are echoed, as a real device does.
"""
import struct
import sys

request = sys.stdin.buffer.read()
tid, _proto, _length, unit, function = struct.unpack(">HHHBB", request[:8])


def answer(pdu):
    sys.stdout.buffer.write(struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu)


if function in (3, 4):
    address, count = struct.unpack(">HH", request[8:12])
    if address + count > 1000 or not 1 <= count <= 125:
        answer(bytes([function | 0x80, 2]))
    else:
        values = [100 + address + i for i in range(count)]
        answer(bytes([function, 2 * count]) + struct.pack(f">{count}H", *values))
else:
    answer(bytes([function | 0x80, 1]))
