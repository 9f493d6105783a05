#!/usr/bin/env bash
# Soak benchmark (not a test): the nine-city demo feed produced at a steady rate through a
# Kafka-protocol broker into `stadtpuls run`, with the HTTP API under load, for a while.
# Reports the process's resident memory (start, end, peak), the consumer lag over time and
# the API latency (p50/p99). Everything runs on loopback; every loop is bounded in time.
#
#   scripts/soak.sh                       # 30 minutes, 300 messages/s, debug binary
#   MINUTES=5 RATE=200 scripts/soak.sh
#   STADTPULS_BIN="$CARGO_TARGET_DIR/dist/stadtpuls" scripts/soak.sh   # after cargo build --profile dist
#
# Needs: tansu (scripts/test.sh installs it), python3, a built binary.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES="${MINUTES:-30}"
RATE="${RATE:-300}"
PORT="${PORT:-18080}"
BROKER_PORT="${BROKER_PORT:-19092}"
API_CLIENTS="${API_CLIENTS:-4}"
target="${CARGO_TARGET_DIR:-$HOME/.cache/stadtpuls-target}"
bin="${STADTPULS_BIN:-$target/debug/stadtpuls}"
[ -x "$bin" ] || { echo "no binary at $bin: cargo build first (or set STADTPULS_BIN)"; exit 1; }
command -v tansu >/dev/null || { echo "tansu not installed: run scripts/test.sh once"; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/stadtpuls-soak.XXXXXX")"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

brokers="127.0.0.1:$BROKER_PORT"
tansu broker --listener-url "tcp://$brokers" --advertised-listener-url "tcp://$brokers" \
  >"$work/tansu.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$BROKER_PORT") 2>/dev/null && break; sleep 0.2; done

export STADTPULS_KAFKA__BROKERS="$brokers"
export STADTPULS_KAFKA__GROUP_ID="soak-$$"
export STADTPULS_API__BIND="127.0.0.1:$PORT"
export STADTPULS_HISTORY__DIR="$work/history"
export STADTPULS_CHECKPOINT__DIR="$work/state"
config=config/demo/stadtpuls.toml

# Event time: the demo network reports ~11 messages per second of event time; the span is
# sized so that producing it at RATE takes MINUTES, ending now.
seconds=$((MINUTES * 60))
span_s=$((seconds * RATE / 11))
start=$(date -u -d "@$(( $(date +%s) - span_s ))" +%Y-%m-%dT%H:%M:%SZ)

"$bin" produce --config "$config" --duration 1s --start "$start" --partitions 3 >/dev/null 2>&1
"$bin" run --config "$config" >"$work/run.log" 2>&1 &
run_pid=$!
pids+=("$run_pid")
for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

"$bin" produce --config "$config" --duration "${span_s}s" --start "$start" --rate "$RATE" \
  --bad-ratio 0.001 --partitions 3 >"$work/produce.log" 2>&1 &
produce_pid=$!
pids+=("$produce_pid")

# API load: closed-loop clients over the live endpoints, latencies in ms to a file.
python3 - "$PORT" "$seconds" "$API_CLIENTS" >"$work/latency.txt" <<'PY' &
import sys, threading, time, urllib.request
port, seconds, clients = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
paths = ["/v1/cities/ulm/parking", "/v1/cities/karlsruhe/traffic?window=1m",
         "/v1/cities/mannheim/zones?window=15m", "/v1/parking/nearby?lat=48.4&lon=9.99&radius_m=3000",
         "/metrics"]
end = time.time() + seconds
lock = threading.Lock()
out = []
def client(i):
    n = i
    while time.time() < end:
        url = f"http://127.0.0.1:{port}{paths[n % len(paths)]}"
        n += 1
        t = time.perf_counter()
        try:
            urllib.request.urlopen(url, timeout=10).read()
            ok = True
        except Exception:
            ok = False
        ms = (time.perf_counter() - t) * 1000
        with lock:
            out.append((ms, ok))
        time.sleep(0.02)
threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
for ms, ok in out:
    print(f"{ms:.3f} {int(ok)}")
PY
pids+=($!)

rss() { awk '/VmRSS/ {print $2}' "/proc/$run_pid/status" 2>/dev/null || echo 0; }
hwm() { awk '/VmHWM/ {print $2}' "/proc/$run_pid/status" 2>/dev/null || echo 0; }
lag() {
  curl -sf "http://127.0.0.1:$PORT/metrics" 2>/dev/null |
    awk '/^stadtpuls_consumer_lag_messages/ {s += $2} END {print s + 0}'
}
printf 'elapsed_s rss_kib lag_messages\n' | tee "$work/samples.txt"
t0=$(date +%s)
while [ $(( $(date +%s) - t0 )) -lt "$seconds" ]; do
  kill -0 "$run_pid" 2>/dev/null || { echo "stadtpuls run exited; see $work/run.log"; exit 1; }
  printf '%s %s %s\n' "$(( $(date +%s) - t0 ))" "$(rss)" "$(lag)" | tee -a "$work/samples.txt"
  sleep 10
done
wait "$produce_pid" || echo "producer: see $work/produce.log"
sleep 15
printf '%s %s %s\n' "$(( $(date +%s) - t0 ))" "$(rss)" "$(lag)" | tee -a "$work/samples.txt"
peak=$(hwm)
wait "${pids[-1]}" 2>/dev/null || true

python3 - "$work" "$peak" "$MINUTES" "$RATE" <<'PY'
import sys
work, peak, minutes, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = [l.split() for l in open(f"{work}/samples.txt").read().splitlines()[1:] if l.strip()]
rss = [int(r[1]) for r in rows]
lag = [int(r[2]) for r in rows]
lat = sorted(float(l.split()[0]) for l in open(f"{work}/latency.txt") if l.strip())
errors = sum(1 for l in open(f"{work}/latency.txt") if l.strip() and l.split()[1] == "0")
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
third = max(1, len(lag) // 3)
print(f"soak: {minutes} min at {rate} msg/s; work dir {work}")
print(f"RSS MiB: start {rss[0]/1024:.0f}, end {rss[-1]/1024:.0f}, peak {peak/1024:.0f}")
print(f"consumer lag (messages): first third max {max(lag[:third])}, last third max {max(lag[-third:])}, end {lag[-1]}")
print(f"API: {len(lat)} requests, {errors} failed, p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms")
PY
