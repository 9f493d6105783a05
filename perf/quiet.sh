#!/bin/bash
# Usage: perf/quiet.sh perf/ab.sh 4 /tmp/old-binary /tmp/new-binary
# Needs root; set /proc/sys/kernel/sched_autogroup_enabled to 0 so nice works across sessions.
# Pauses niced helper processes (builds, tests) while a measurement runs.
stopall() { ps -eo pid=,ni=,stat= | awk '$2>0 && $3 !~ /T/ {print $1}' | xargs -r kill -STOP 2>/dev/null; }
contall() { ps -eo pid=,ni=,stat= | awk '$2>0 && $3 ~ /T/ {print $1}' | xargs -r kill -CONT 2>/dev/null; }
( while true; do stopall; sleep 0.2; done ) &
loop=$!
trap 'kill $loop; wait $loop 2>/dev/null; contall' EXIT
sleep 0.5
"$@"
