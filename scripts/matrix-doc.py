#!/usr/bin/env python3
"""Turn a convoy-matrix run's JSON into the markdown of docs/policies.md.

    python3 scripts/matrix-doc.py bench-results/matrix/gilbench.json

prints, for every policy, a table of cells (I/O rate as a share of solo,
I/O round-trip p99, the slowest CPU thread's share of its fair share of what
the I/O thread leaves, and PRIORITY's goal verdicts), the goal counts, and
the CPU-time figures that docs/policies.md explains the CPU-time goal with.  Every figure in the matrix section of docs/policies.md comes from
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


def cpu_time_facts(cells, base):
    """The figures docs/policies.md explains the CPU-time goal with: what the
    I/O thread costs this process on its own (the io_alone baselines: cores
    busy at the solo rate), and each policy's cores busy across its cells."""
    io_alone = sorted((b["cpu_s"] / b["seconds"], b["io_rate"]) for pol in base.values()
                      for b in pol.values() if b.get("cpu_s") and b.get("seconds"))
    cores = {pol: sorted(st["cpu_s"] / st["seconds"] for st in c.values()
                         if st.get("cpu_s") and st.get("seconds"))
             for pol, c in cells.items()}
    ratios = sorted(st["cpu_vs_cpython"] for st in cells.get("priority", {}).values()
                    if st.get("cpu_vs_cpython") is not None)
    return io_alone, cores, ratios


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
    io_alone, cores, ratios = cpu_time_facts(cells, base)
    if io_alone and ratios:
        print("**CPU time** (cores busy = the process's user+sys CPU seconds / wall seconds)\n")
        print(f"- the I/O thread alone, at its solo rate ({min(r for _, r in io_alone):.0f}-{max(r for _, r in io_alone):.0f} "
              f"round trips/s): {io_alone[0][0]:.2f}-{io_alone[-1][0]:.2f} cores")
        for pol, c in cores.items():
            print(f"- {pol}: {c[0]:.2f}-{c[-1]:.2f} cores busy (median {c[len(c) // 2]:.2f}) over {len(c)} cells")
        print(f"- PRIORITY against CPYTHON: {ratios[0]:.2f}-{ratios[-1]:.2f}x (median {ratios[len(ratios) // 2]:.2f}x)")
        print()


if __name__ == "__main__":
    main()
