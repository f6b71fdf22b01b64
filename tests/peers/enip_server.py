#!/usr/bin/env python3
"""cpppo's EtherNet/IP Logix simulator for the `--decode enip` tests.

Runs `python -m cpppo.server.enip` on 127.0.0.1 port 0 (TCP only) with the
tags given as arguments (e.g. 'SCADA=INT[10]' 'TEMP=REAL'), reads the port
it bound back from its "Network TCP Server address = (...)" line, and prints
that port as the first stdout line (a bare number, like the other peers in
this folder). Stops the simulator on SIGTERM/SIGINT, or after --lifetime
seconds, so it never hangs a test run; and when this process dies any other
way (the tests' SIGKILL), the kernel stops the simulator too.
"""
import argparse
import ctypes
import re
import signal
import subprocess
import sys
import threading


def die_with_parent():
    """In the simulator, before exec: SIGTERM it when its parent, this
    wrapper, dies (Linux prctl PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)


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
    # A daemon timer: once the simulator has stopped, nothing keeps this
    # process waiting out the rest of its lifetime.
    timer = threading.Timer(args.lifetime, stop)
    timer.daemon = True
    timer.start()
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
