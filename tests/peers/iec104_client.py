#!/usr/bin/env python3
"""A c104 IEC 60870-5-104 client for the `--decode iec104` tests: connects
to 127.0.0.1:PORT (c104.Init.ALL: STARTDT, general interrogation and clock
sync of station 47),
reads point 1001, sends a single command (5000 on) and a float setpoint
(5001 = 12.5), and prints what it got, one line each. Exits 1 when the
connection or an exchange fails, within --timeout seconds."""
import argparse
import sys
import time

import c104


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    client = c104.Client()
    conn = client.add_connection(ip="127.0.0.1", port=args.port, init=c104.Init.ALL)
    station = conn.add_station(common_address=47)
    measured = station.add_point(io_address=1001, type=c104.Type.M_ME_NC_1)
    command = station.add_point(io_address=5000, type=c104.Type.C_SC_NA_1)
    setpoint = station.add_point(io_address=5001, type=c104.Type.C_SE_NC_1)
    client.start()
    deadline = time.monotonic() + args.timeout
    while conn.state != c104.ConnectionState.OPEN and time.monotonic() < deadline:
        time.sleep(0.05)
    if conn.state != c104.ConnectionState.OPEN:
        print("not connected:", conn.state, file=sys.stderr)
        sys.exit(1)
    # Let the general interrogation finish.
    time.sleep(0.5)
    ok = True
    ok &= bool(measured.read())
    print("read 1001", measured.value)
    command.value = True
    ok &= bool(command.transmit(cause=c104.Cot.ACTIVATION))
    setpoint.value = 12.5
    ok &= bool(setpoint.transmit(cause=c104.Cot.ACTIVATION))
    print("commands", ok)
    time.sleep(0.3)
    client.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
