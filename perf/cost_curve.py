#!/usr/bin/env python3
"""The cost curve of issue #16: events/s and memory as the network grows.

    python3 perf/cost_curve.py [--bin target/dist/stadtpuls] [--out perf/cost-curve]
                               [--sensors 2000,20000,200000] [--cities 9,50]
                               [--lines 10000000] [--max-states 40000000]

For each network size (sensors per city x cities) and each window set (1 size; 4 sizes;
4 sizes + one hopping window) it runs `stadtpuls bench --network CxS` in a process of its
own (so each point's peak RSS is its own), every sensor reporting once a minute for as
many minutes as give about `--lines` reports (at least 3, at most 60), and collects the
`RESULT {...}` line. A point whose open window states would pass `--max-states` (about
250 bytes each, plus the id table) is skipped and listed as such: 10 million sensors with
five window families would need ~20 GB.

Writes OUT/cost_curve.tsv, OUT/cost_curve.md (the table for docs/performance.md) and
OUT/cost_curve.png (events/s and peak RSS against the network's sensors; needs
matplotlib, installed into the test venv on first use).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

WINDOW_SETS = [
    ("1 size (1m)", ["--windows", "1m"], 2),
    ("4 sizes (1m,5m,15m,1h)", ["--windows", "1m,5m,15m,1h"], 5),
    ("4 sizes + hopping 15m/5m", ["--windows", "1m,5m,15m,1h", "--hopping", "15m/5m"], 8),
]


def minutes_for(sensors: int, lines: int) -> int:
    return max(3, min(60, math.ceil(lines / sensors)))


def run_point(binary: str, cities: int, per_city: int, minutes: int, extra: list[str]) -> dict:
    cmd = [binary, "bench", "--network", f"{cities}x{per_city}",
           "--network-minutes", str(minutes), *extra]
    started = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    result = next(
        (json.loads(line[len("RESULT "):]) for line in done.stdout.splitlines()
         if line.startswith("RESULT ")),
        None,
    )
    if result is None:
        raise SystemExit(f"{' '.join(cmd)} printed no RESULT line")
    result["wall_s"] = round(time.time() - started, 1)
    return result


VENV_PYTHON = Path.home() / ".cache/stadtpuls-pytest/venv/bin/python"


def plot_elsewhere(tsv: Path, png: Path) -> str:
    """Plots in the test venv (matplotlib installed there on first use): Debian's own
    Python has no matplotlib and refuses `pip install`."""
    python = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
    has = subprocess.run([python, "-c", "import matplotlib"], capture_output=True).returncode == 0
    if not has:
        subprocess.run([python, "-m", "pip", "install", "--quiet", "matplotlib"], check=True)
    subprocess.run([python, __file__, "--plot", str(tsv), "--out", str(png.parent)], check=True)
    return str(png)


def read_tsv(tsv: Path) -> list[dict]:
    lines = tsv.read_text().splitlines()
    keys = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        row = dict(zip(keys, line.split("\t")))
        for k in ("sensors", "events_per_s", "peak_rss_bytes"):
            row[k] = float(row[k])
        rows.append(row)
    return rows


def plot(rows: list[dict], path: Path) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rate_ax, rss_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
    for label, _, _ in WINDOW_SETS:
        points = sorted((r for r in rows if r["windows_label"] == label),
                        key=lambda r: r["sensors"])
        if not points:
            continue
        xs = [r["sensors"] for r in points]
        rate_ax.plot(xs, [r["events_per_s"] / 1e6 for r in points], marker="o", label=label)
        rss_ax.plot(xs, [r["peak_rss_bytes"] / 1e6 for r in points], marker="o", label=label)
    for ax in (rate_ax, rss_ax):
        ax.set_xscale("log")
        ax.set_xlabel("sensors in the network (cities x sensors per city)")
        ax.grid(True, which="both", alpha=0.3)
    rss_ax.set_yscale("log")
    rate_ax.set_ylabel("events/s (millions)")
    rss_ax.set_ylabel("peak RSS (MB)")
    rate_ax.set_title("throughput")
    rss_ax.set_title("memory")
    rate_ax.legend(fontsize=8)
    profile = rows[0]["profile"] if rows else "?"
    fig.suptitle(f"Stadtpuls cost curve ({profile} build, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return str(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/dist/stadtpuls")
    ap.add_argument("--out", default="perf/cost-curve")
    ap.add_argument("--sensors", default="2000,20000,200000")
    ap.add_argument("--cities", default="9,50")
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--max-states", type=int, default=40_000_000)
    ap.add_argument("--plot", help="only plot this cost_curve.tsv into OUT/cost_curve.png")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.plot:
        plot(read_tsv(Path(args.plot)), out / "cost_curve.png")
        return
    rows, skipped = [], []
    for cities in (int(c) for c in args.cities.split(",")):
        for per_city in (int(s) for s in args.sensors.split(",")):
            sensors = cities * per_city
            minutes = minutes_for(sensors, args.lines)
            for label, extra, states_per_sensor in WINDOW_SETS:
                if sensors * states_per_sensor > args.max_states:
                    skipped.append(f"{cities} x {per_city:,} with {label}")
                    continue
                load = os.getloadavg()[0]
                result = run_point(args.bin, cities, per_city, minutes, extra)
                row = {
                    "cities": cities, "sensors_per_city": per_city, "sensors": sensors,
                    "minutes": minutes, "windows_label": label, "load_before": round(load, 1),
                    **{k: result[k] for k in ("events_per_s", "peak_rss_bytes",
                                              "state_bytes_per_open", "open_states_max",
                                              "cnt_total", "engine_s", "wall_s", "profile")},
                }
                rows.append(row)
                print(f"{cities:>3} x {per_city:>7,} {label:<26} {minutes:>2} min "
                      f"{row['events_per_s'] / 1e6:6.2f} M/s  RSS {row['peak_rss_bytes'] / 1e6:7.0f} MB  "
                      f"{row['state_bytes_per_open']:.0f} B/open  load {load:.1f}", flush=True)
    keys = list(rows[0]) if rows else []
    with open(out / "cost_curve.tsv", "w") as f:
        f.write("\t".join(keys) + "\n")
        for r in rows:
            f.write("\t".join(str(r[k]) for k in keys) + "\n")
    with open(out / "cost_curve.md", "w") as f:
        f.write("| cities | sensors per city | sensors | minutes | windows | events/s | peak RSS MB "
                "| state B per open | open states at peak | load |\n")
        f.write("|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n")
        for r in rows:
            f.write(f"| {r['cities']} | {r['sensors_per_city']:,} | {r['sensors']:,} | {r['minutes']} "
                    f"| {r['windows_label']} | {r['events_per_s'] / 1e6:.2f} M "
                    f"| {r['peak_rss_bytes'] / 1e6:,.0f} | {r['state_bytes_per_open']:.0f} "
                    f"| {r['open_states_max']:,} | {r['load_before']} |\n")
        for s in skipped:
            f.write(f"\nNot run (more than {args.max_states:,} open states): {s}\n")
    if rows:
        print("plot:", plot_elsewhere(out / "cost_curve.tsv", out / "cost_curve.png"))


if __name__ == "__main__":
    main()
