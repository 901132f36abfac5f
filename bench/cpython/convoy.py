#!/usr/bin/env python3
"""convoy.py - gilbench's convoy step in real CPython.

The same workload as gilbench's model (bench/gilbench_work.c):
  * an echo process, forked before any thread starts, on the other end of a
    socketpair (the "server"; it never runs Python bytecode after the fork);
  * an I/O thread doing 1-byte request/response round trips: socket.send and
    socket.recv release the GIL around the system call, like
    GIL_BEGIN/END_ALLOW_THREADS in the model;
  * --cpu-threads threads running a tight `n += 1` loop (every back edge is
    a check point, like gil_check between the model's work units).

After a warm-up, each thread measures itself over the same window (a shared
deadline on time.perf_counter), so a thread delayed by the GIL does not skew
another's numbers.  One JSON line goes to stdout:

  {"runtime": "cpython", "version": "3.11.7", "interval_us": 5000,
   "cpu_threads": 1, "io": 1, "seconds": 1.0, "io_count": 150,
   "io_rate": 150.0, "io_p50_us": ..., "io_p99_us": ..., "io_max_us": ...,
   "cpu_rate": ...}

cpu_rate is loop iterations per second, all CPU threads together.
"""

import argparse
import json
import math
import os
import platform
import socket
import sys
import threading
import time

# Iterations between two clock reads in a CPU thread: ~0.2 ms of CPython.
CPU_CHUNK = 10000


def echo_loop(sock):
    """Echo every byte back until the other end closes."""
    fd = sock.fileno()
    while True:
        data = os.read(fd, 256)
        if not data:
            return
        os.write(fd, data)


def start_echo():
    """Fork the echo process; return (our socket, its pid)."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        try:
            echo_loop(theirs)
        finally:
            os._exit(0)
    theirs.close()
    return ours, pid


def percentile(sorted_values, q):
    """Nearest rank, as gilbench computes it."""
    n = len(sorted_values)
    rank = min(max(math.ceil(q * n), 1), n)
    return sorted_values[rank - 1]


def io_thread(sock, start, end, out):
    latencies = []
    while True:
        t0 = time.perf_counter()
        sock.send(b"x")
        if sock.recv(1) != b"x":
            raise RuntimeError("echo process closed the socket")
        t1 = time.perf_counter()
        if t0 >= end:
            break
        if t0 >= start:
            latencies.append(t1 - t0)
    out["latencies"] = latencies


def cpu_thread(start, end, out):
    """Count iterations between the deadlines, at chunk granularity.

    The window is [start, end] itself, not the times this thread happened to
    read the clock: a thread waiting for the GIL when a deadline passes does
    no iterations meanwhile, so its count is right for the deadlines' window,
    while its own clock reads would be late by however long it waited.
    """
    n = 0
    n_start = None
    while True:
        limit = n + CPU_CHUNK
        while n < limit:
            n += 1
        now = time.perf_counter()
        if n_start is None and now >= start:
            n_start = n
        if now >= end:
            break
    out["rate"] = (n - n_start) / (end - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--warmup", type=float, default=0.1)
    ap.add_argument("--cpu-threads", type=int, default=1)
    ap.add_argument("--io", type=int, choices=(0, 1), default=1)
    ap.add_argument("--interval-us", type=int, default=5000)
    args = ap.parse_args()
    if args.seconds <= 0 or args.warmup < 0 or args.cpu_threads < 0 or args.interval_us <= 0:
        ap.error("seconds and interval must be positive, counts not negative")

    # Before any thread exists: a plain fork.
    sock, pid = start_echo()
    sys.setswitchinterval(args.interval_us / 1e6)

    start = time.perf_counter() + args.warmup
    end = start + args.seconds
    io_out = {}
    cpu_outs = [{} for _ in range(args.cpu_threads)]
    threads = [threading.Thread(target=cpu_thread, args=(start, end, o)) for o in cpu_outs]
    if args.io:
        threads.append(threading.Thread(target=io_thread, args=(sock, start, end, io_out)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    sock.close()  # EOF ends the echo process
    os.waitpid(pid, 0)

    lat = sorted(io_out.get("latencies", []))
    us = lambda q: round(percentile(lat, q) * 1e6, 2) if lat else None
    print(json.dumps({
        "runtime": "cpython",
        "version": platform.python_version(),
        "interval_us": round(sys.getswitchinterval() * 1e6),
        "cpu_threads": args.cpu_threads,
        "io": args.io,
        "seconds": args.seconds,
        "io_count": len(lat),
        "io_rate": len(lat) / args.seconds,
        "io_p50_us": us(0.50),
        "io_p99_us": us(0.99),
        "io_max_us": round(lat[-1] * 1e6, 2) if lat else None,
        "cpu_rate": sum(o["rate"] for o in cpu_outs),
    }))


if __name__ == "__main__":
    main()
