"""The Python side of bench/common.ts's parent/child protocol: a load probe that measures what
bench/common.ts's loadProbe measures (1-minute load average at start and end, and the CPU cores
*other* processes used meanwhile: whole-machine busy time from /proc/stat minus this process's
own CPU time, over wall time), and the hand-over of one JSON result (to $BENCH_CHILD_OUT when a
parent benchmark runs the script, else to stdout).
"""

import json
import os
import time


def machine_busy_seconds():
    """Busy CPU seconds of the whole machine (/proc/stat; USER_HZ is 100 on Linux), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (v + [0] * 8)[:8]
        return (user + nice + system + irq + softirq + steal) / 100
    except OSError:
        return None


def own_cpu_seconds():
    t = os.times()
    return t.user + t.system


def load_probe():
    """Start watching the load; call the returned function at the end of the measurement."""
    start = os.getloadavg()[0]
    busy0, own0, wall0 = machine_busy_seconds(), own_cpu_seconds(), time.perf_counter()

    def finish():
        record = {"start": round(start, 2), "end": round(os.getloadavg()[0], 2)}
        busy1 = machine_busy_seconds()
        wall = time.perf_counter() - wall0
        if busy0 is not None and busy1 is not None and wall > 0:
            others = (busy1 - busy0 - (own_cpu_seconds() - own0)) / wall
            record["others"] = round(max(0.0, others), 2)
        return record

    return finish


def report(result):
    text = json.dumps(result)
    out = os.environ.get("BENCH_CHILD_OUT")
    if out:
        with open(out, "w") as f:
            f.write(text)
    else:
        print(text)
