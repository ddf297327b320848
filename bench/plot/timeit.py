#!/usr/bin/env python3
"""Time shell commands: run each REPS times, print median and min wall time and the median
CPU time (user + sys of the command and its children).

    python3 bench/plot/timeit.py REPS "label" "command" ["label" "command" ...]
"""

import resource
import statistics
import subprocess
import sys
import time


def measure(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    reps = int(sys.argv[1])
    pairs = list(zip(sys.argv[2::2], sys.argv[3::2]))
    print(f"| command | wall median (s) | wall min (s) | CPU median (s) | runs |")
    print(f"|---|---:|---:|---:|---:|")
    for label, cmd in pairs:
        measure(cmd)  # warm the page cache
        walls, cpus = zip(*(measure(cmd) for _ in range(reps)))
        print(f"| {label} | {statistics.median(walls):.3f} | {min(walls):.3f} | "
              f"{statistics.median(cpus):.3f} | {reps} |", flush=True)


if __name__ == "__main__":
    main()
