#!/bin/bash
# Alternating A/B of `stadtpuls bench --input` for several binaries (BENCH_FILE to change the input).
# usage: ab.sh N bin1 bin2 ... ; runs alternately, prints per-binary sorted wall times
N=$1; shift
F=${BENCH_FILE:-/tmp/benchdata/traffic_5000000.ndjson}
for i in $(seq 1 $N); do for b in "$@"; do
  /usr/bin/time -o /tmp/ab.time -f "%e %U %S" $b bench --input $F >/dev/null 2>/dev/null
  echo "$b $(cat /tmp/ab.time)"
done; done | sort | awk '{print $1, $2, "user", $3, "sys", $4}'
