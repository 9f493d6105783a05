#!/usr/bin/env python3
"""Builds every test target of the workspace and runs the test binaries several at a time.

`cargo test` runs its ~70 test binaries one after the other. Most of the suite's wall time
is a handful of end-to-end binaries that mostly wait (a broker frozen for a minute, a
process killed and restarted, a rebalance), while two cores sit idle. This runs the
binaries on a few workers, the known slow ones first (longest first, so the tail is
short), and prints each binary's result as it finishes; a failing binary's whole output
is printed and fails the run. The tests were written for this: topics, group ids and the
own brokers' ports are unique per run and per process.

    scripts/run_tests.py [cargo test args…]     (default: --workspace --all-targets --locked)

Environment: STADTPULS_TEST_JOBS (default 2) binaries at once. Three at once on two
cores starved the rebalance tests on a loaded machine; two kept the suite green.
"""

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

# The binaries that take longest (seconds of a run on the 2-core machine, 2026-12-07),
# started first. Anything else is short and fills the gaps.
SLOW = {
    "e2e_broker_outage": 150,
    "e2e_fixtures": 40,
    "e2e_kill": 116,
    "e2e_field_faults": 102,
    "e2e_two_instances": 84,
    "e2e_restart": 31,
    "slow_sink": 31,
    "e2e_handover": 21,
    "e2e_kafka": 17,
    "e2e_history_unwritable": 17,
    "e2e_deadletters": 16,
    "e2e_checkpoint": 16,
    "e2e_demo_history": 12,
    "e2e_output": 11,
    "e2e_feeds": 11,
    "e2e_admit": 17,
    "e2e_gateway_outage": 11,
    "e2e_gateway": 12,
    "e2e_demo_push": 21,
    "e2e_map": 60,
    "e2e_replay": 50,
    "e2e_demo_regions": 11,
    "e2e_run_audience": 12,
}


def build(args):
    """Builds the test targets; returns (label, executable, package dir) per binary."""
    command = ["cargo", "test", *args, "--no-run", "--message-format=json-render-diagnostics"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    binaries = []
    for line in process.stdout:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("reason") != "compiler-artifact" or not message.get("executable"):
            continue
        if not message["profile"]["test"]:
            continue
        target = message["target"]
        package_dir = os.path.dirname(message["manifest_path"])
        label = f"{os.path.basename(package_dir)}/{target['kind'][0]}/{target['name']}"
        binaries.append((target["name"], label, message["executable"], package_dir))
    if process.wait() != 0:
        sys.exit(process.returncode)
    return binaries


def main():
    args = sys.argv[1:] or ["--workspace", "--all-targets", "--locked"]
    jobs = int(os.environ.get("STADTPULS_TEST_JOBS", "2"))
    binaries = build(args)
    binaries.sort(key=lambda b: (-SLOW.get(b[0], 0), b[1]))
    print_lock = threading.Lock()
    failed = []
    started = time.monotonic()

    def run(binary):
        name, label, executable, package_dir = binary
        begin = time.monotonic()
        # As `cargo test`: the package's directory as working directory and in the env.
        env = dict(os.environ, CARGO_MANIFEST_DIR=package_dir)
        result = subprocess.run(
            [executable], cwd=package_dir, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        took = time.monotonic() - begin
        summary = [l for l in result.stdout.splitlines() if l.startswith("test result:")]
        with print_lock:
            status = "ok" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
            print(f"{label}: {status} in {took:.1f}s  {' '.join(summary)}", flush=True)
            if result.returncode != 0:
                failed.append(label)
                print(result.stdout, flush=True)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(run, binaries))
    total = time.monotonic() - started
    print(f"{len(binaries)} test binaries in {total:.0f}s on {jobs} workers", flush=True)
    if failed:
        print("failed: " + ", ".join(failed), flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
