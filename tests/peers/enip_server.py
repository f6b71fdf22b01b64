#!/usr/bin/env python3
"""cpppo's EtherNet/IP Logix simulator for the `--decode enip` tests.

Runs `python -m cpppo.server.enip` on 127.0.0.1 port 0 (TCP only) with the
tags given as arguments (e.g. 'SCADA=INT[10]' 'TEMP=REAL'), reads the port
it bound back from its "Network TCP Server address = (...)" line, and prints
that port as the first stdout line (a bare number, like the other peers in
this folder). Stops the simulator on SIGTERM/SIGINT, or after --lifetime
seconds, so it never hangs a test run; the simulator dies with this wrapper
(PR_SET_PDEATHSIG), so a test that kills the wrapper leaves nothing behind.
"""
import argparse
import ctypes
import re
import signal
import subprocess
import sys
import threading


def die_with_parent():
    """In the child: be sent SIGTERM when this wrapper dies, even by SIGKILL
    (a test's Drop kills the wrapper, which cannot stop the child then)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lifetime", type=float, default=60.0)
    parser.add_argument("tags", nargs="+")
    args = parser.parse_args()
    child = subprocess.Popen(
        [sys.executable, "-m", "cpppo.server.enip", "--no-config", "-a", "127.0.0.1:0",
         "-A", "-U", *args.tags],
        stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent)

    def stop(*_):
        child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Timer(args.lifetime, stop).start()
    port = None
    for line in child.stdout:
        m = re.search(r"TCP Server address = \('[^']*', (\d+)\)", line)
        if m:
            port = m.group(1)
            break
    if port is None:
        print("cpppo.server.enip exited without listening", file=sys.stderr)
        sys.exit(1)
    print(port, flush=True)
    for line in child.stdout:
        print(line, end="", flush=True)
    child.wait()
    sys.exit(0)


if __name__ == "__main__":
    main()
