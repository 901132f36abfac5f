#!/usr/bin/env python3
"""Turn a convoy-matrix run's JSON into the markdown of docs/policies.md.

    python3 scripts/matrix-doc.py bench-results/matrix/gilbench.json

prints, for every policy, a table of cells (I/O rate as a share of solo,
I/O round-trip p99, the slowest CPU thread's share of its fair share of what
the I/O thread leaves, and PRIORITY's goal verdicts), the goal counts, and
the CPU-time decomposition that docs/policies.md uses to explain the CPU-time
goal.  Every figure in the matrix section of docs/policies.md comes from
this script, so a new run regenerates the section instead of being copied
by hand.
"""
import json
import sys
from collections import OrderedDict

GOALS = ("goal_io_rate", "goal_io_p99", "goal_cpu_fair", "goal_cpu_time")


def pct(v):
    if v is None:
        return "–"
    v *= 100
    return f"{v:.1f}%" if v < 10 else f"{v:.0f}%"


def us(v):
    if v is None:
        return "no rt"
    return f"{v:.0f} µs" if v < 1000 else f"{v / 1000:.1f} ms"


def verdicts(st):
    out = ""
    for g in GOALS:
        v = st.get(g)
        out += "." if v is None else "+" if v >= 1 else "−"
    return out


def load(path):
    with open(path) as f:
        return json.load(f)


def cells_of(doc):
    """{policy: {(shape, threads, check): step}} for the measured convoy cells,
    the rerun of a cell replacing nothing (the first run is the cell)."""
    out = OrderedDict()
    for st in doc["steps"]:
        if st.get("scenario") != "convoy-matrix" or st.get("kind") != "convoy":
            continue
        if st.get("rerun") or not st.get("measured"):
            continue
        key = (st["shape"], st["threads"], st["check"])
        out.setdefault(st["policy"], OrderedDict())[key] = st
    return out


def baselines_of(doc):
    """{policy: {shape: io-alone step}}: the solo I/O baselines."""
    out = {}
    for st in doc["steps"]:
        if st.get("scenario") == "convoy-matrix" and st.get("kind") == "io_alone" \
                and not st.get("rerun") and st.get("measured"):
            out.setdefault(st["policy"], {})[st["shape"]] = st
    return out


def table(policy, cells):
    shapes = list(OrderedDict.fromkeys(k[0] for k in cells))
    cols = sorted({(k[2], k[1]) for k in cells if k[0] != "interp"},
                  key=lambda c: (c[0] != "50ns", c[1]))
    head = "| shape | " + " | ".join(f"{n} CPU, {c}" for c, n in cols) + " |"
    lines = [head, "|---" * (len(cols) + 1) + "|"]
    for shape in shapes:
        row = [shape]
        for c, n in cols:
            st = cells.get((shape, n, c))
            if st is None and shape == "interp" and (c, n) == cols[0]:
                st = next((v for k, v in cells.items() if k[0] == "interp"), None)
            if st is None:
                row.append("")
                continue
            text = f"{pct(st.get('io_fraction'))} · {us(st.get('io_p99_us'))} · " \
                   f"{pct(st.get('cpu_fair_min'))}"
            if policy == "priority":
                text += " · " + verdicts(st)
            row.append(text)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def goal_counts(doc):
    lines = ["| goal | met | missed |", "|---|---|---|"]
    for g in doc.get("matrix_goals", []):
        lines.append(f"| {g['name']} ({g['target']}) | {g['met']} of {g['met'] + g['missed']} cells "
                     f"| {g['missed']} |")
    return "\n".join(lines)


def cpu_decomposition(cells, base):
    """CPU time beyond the I/O work each policy delivered.

    The I/O-alone baseline gives the process's CPU seconds per round trip
    when nothing else runs (the I/O thread's work, its system calls and
    wake-ups; the echo process is another process and not counted).  A
    cell's CPU time minus round trips x that cost is what the CPU threads
    and the scheduler spent: the part a GIL policy can waste."""
    rows = []
    for key, st in cells.get("priority", {}).items():
        cp = cells.get("cpython", {}).get(key)
        b = base.get("priority", {}).get(key[0])
        bc = base.get("cpython", {}).get(key[0])
        if cp is None or b is None or bc is None:
            continue
        need = [x.get(f) for x in (st, cp, b, bc) for f in ("cpu_s", "seconds", "io_rate")]
        if any(v is None or v <= 0 for v in need):
            continue
        per_rt = (b["cpu_s"] / b["seconds"]) / b["io_rate"]
        per_rt_c = (bc["cpu_s"] / bc["seconds"]) / bc["io_rate"]
        cores = st["cpu_s"] / st["seconds"]
        cores_c = cp["cpu_s"] / cp["seconds"]
        io_cores = st["io_rate"] * per_rt
        io_cores_c = cp["io_rate"] * per_rt_c
        rows.append((key, cores, cores_c, io_cores, io_cores_c,
                     (cores - io_cores) / max(cores_c - io_cores_c, 1e-9)))
    return rows


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: matrix-doc.py GILBENCH_JSON")
    doc = load(sys.argv[1])
    cells = cells_of(doc)
    base = baselines_of(doc)
    for policy, c in cells.items():
        what = "I/O of solo · I/O p99 · the slowest CPU thread's fair share"
        if policy == "priority":
            what += " · goals"
        print(f"**{policy}** — {what}\n")
        print(table(policy, c))
        print()
    print("**PRIORITY against the goals**\n")
    print(goal_counts(doc))
    print()
    rows = cpu_decomposition(cells, base)
    if rows:
        ratios = sorted(r[5] for r in rows)
        within = sum(1 for r in ratios if r <= 1.2)
        tot = sorted(r[1] / r[2] for r in rows)
        print("**CPU time, taken apart** (cores busy = CPU seconds / wall seconds; I/O work = round trips x the "
              "solo baseline's CPU per round trip)\n")
        print(f"- whole-process CPU time against CPYTHON's: {tot[0]:.2f}-{tot[-1]:.2f}x "
              f"(median {tot[len(tot) // 2]:.2f}x) over {len(rows)} cells")
        print(f"- beyond the I/O work delivered: {ratios[0]:.2f}-{ratios[-1]:.2f}x CPYTHON's "
              f"(median {ratios[len(ratios) // 2]:.2f}x); <= 1.2x in {within} of {len(rows)} cells")
        print()
        print("| cell | PRIORITY cores | CPYTHON cores | PRIORITY I/O work, cores | CPYTHON I/O work, cores "
              "| beyond I/O work, PRIORITY/CPYTHON |")
        print("|---|---|---|---|---|---|")
        for key, cores, cores_c, io, io_c, r in rows:
            if key[1] == 1 or key[0] == "interp":
                print(f"| {key[0]}, {key[1]} CPU, {key[2]} | {cores:.2f} | {cores_c:.2f} | {io:.2f} | "
                      f"{io_c:.2f} | {r:.2f} |")


if __name__ == "__main__":
    main()
