#!/usr/bin/env python3
"""Each function's own (exclusive) instruction count per request, from a
callgrind dump: callgrind_annotate 3.19 puts everything under `clone` for a
dump taken after `callgrind_control -z`.

Usage: callgrind_self.py CALLGRIND_OUT REQUESTS [TOP]
"""
import collections
import re
import sys

names = {}


def resolve(token):
    """A name, given as `(id) name` the first time and `(id)` after."""
    m = re.match(r"\((\d+)\)(?: (.*))?", token)
    if not m:
        return token
    if m.group(2):
        names[m.group(1)] = m.group(2)
    return names.get(m.group(1), token)


def main():
    path, requests = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    own = collections.Counter()
    current, call_cost_next = None, False
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("fn="):
                current = resolve(line[3:])
            elif line.startswith("cfn="):
                resolve(line[4:])
            elif line.startswith("calls="):
                # The next cost line is the callee's inclusive cost.
                call_cost_next = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if call_cost_next:
                    call_cost_next = False
                elif len(parts) >= 2 and current:
                    own[current] += int(parts[1])
    total = sum(own.values())
    for name, cost in own.most_common(top):
        print(f"{cost / requests:8.0f} {100 * cost / total:5.1f}%  {name[:140]}")


if __name__ == "__main__":
    main()
