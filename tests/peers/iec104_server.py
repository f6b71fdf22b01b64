#!/usr/bin/env python3
"""A c104 IEC 60870-5-104 server (station 47) for the `--decode iec104` tests.

Binds 127.0.0.1 port 0 and prints the port it got as the first stdout line
(a bare number, like the other peers in this folder). c104 reports port 0
back, so the real port is read from this process's listening socket in
/proc/net/tcp, never guessed. Points: 100 single point (on), 1001 short
float 23.5, 1002 scaled -10, 5000 single command, 5001 float setpoint.
Exits on SIGTERM/SIGINT, or after --lifetime seconds.
"""
import argparse
import os
import signal
import sys
import time

import c104


def listening_port():
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    with open("/proc/self/net/tcp") as f:
        for line in f.readlines()[1:]:
            cells = line.split()
            if cells[3] == "0A" and cells[9] in inodes:
                return int(cells[1].split(":")[1], 16)
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lifetime", type=float, default=60.0)
    args = parser.parse_args()
    # c104 2.2.1 now and then never listens (about 1 start in 15 here):
    # such a server is stopped and a new one started, three times at most.
    for _attempt in range(3):
        server = c104.Server(ip="127.0.0.1", port=0)
        station = server.add_station(common_address=47)
        station.add_point(io_address=100, type=c104.Type.M_SP_NA_1).value = True
        station.add_point(io_address=1001, type=c104.Type.M_ME_NC_1).value = 23.5
        station.add_point(io_address=1002, type=c104.Type.M_ME_NB_1).value = c104.Int16(-10)
        station.add_point(io_address=5000, type=c104.Type.C_SC_NA_1)
        station.add_point(io_address=5001, type=c104.Type.C_SE_NC_1)
        server.start()
        port = None
        deadline = time.monotonic() + 3
        while port is None and time.monotonic() < deadline:
            port = listening_port()
            if port is None:
                time.sleep(0.05)
        if port is not None:
            break
        server.stop()
    if port is None:
        print("c104 server is not listening (3 tries)", file=sys.stderr)
        sys.exit(1)
    # c104 listens before its connection handling is ready: a STARTDT that
    # comes at once can go unanswered (the client then stays OPEN_MUTED).
    time.sleep(0.5)
    print(port, flush=True)
    done = []
    signal.signal(signal.SIGTERM, lambda *_: done.append(1))
    signal.signal(signal.SIGINT, lambda *_: done.append(1))
    end = time.monotonic() + args.lifetime
    while not done and time.monotonic() < end:
        time.sleep(0.05)
    server.stop()


if __name__ == "__main__":
    main()
