#!/usr/bin/env python3
"""Judge a JUnit XML report with junitparser, a real JUnit consumer.

Prints "tests=N failures=F passed=P" for the report at --file (every
testsuite in it), then one line per failed case: "failed NAME: MESSAGE".
Exits 0 when the file parsed, 1 otherwise.
"""
import argparse
import sys

from junitparser import Failure, JUnitXml


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--file", required=True)
    a = p.parse_args()
    try:
        xml = JUnitXml.fromfile(a.file)
    except Exception as e:  # a malformed file is what this is here to catch
        print("unparsable: %s" % e, file=sys.stderr)
        return 1
    tests = failures = 0
    failed = []
    for suite in xml:
        for case in suite:
            tests += 1
            bad = [r for r in case.result if isinstance(r, Failure)]
            if bad:
                failures += 1
                failed.append("failed %s: %s" % (case.name, bad[0].message))
    print("tests=%d failures=%d passed=%d" % (tests, failures, tests - failures))
    for line in failed:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
