#!/usr/bin/env bash
# A/B of two builds of auth and task, as bench/changes-tried.md measures them: two seeded
# setups from `bench --hold` (one database each), then wrk runs interleaved A, B, A, B, each
# reporting req/s, the serving process's CPU time per request (utime + stime over the run ÷
# requests: what other load on the machine disturbs least) and its largest RSS.
# usage: bench/ab.sh NAME_A DIR_A NAME_B DIR_B ROUNDS list|get|validate|health [CONNECTIONS]
#   DIR_* hold an `auth` and a `task` binary; BENCH is the harness binary
#   (default target/release/bench, built by `cargo build --release -p bench`).
set -euo pipefail
BENCH=${BENCH:-$(dirname "$0")/../target/release/bench}
WORK=$(mktemp -d)
declare -A URL PID TOK AURL APID ID
HOLDERS=()
start() { # name dir
  local f=$WORK/hold.$1
  rm -f $f.in; mkfifo $f.in
  $BENCH --hold --bin-dir $2 < $f.in > $f.out 2> $f.err &
  # Its standard input stays open until this script closes the descriptor (or exits).
  local fd; exec {fd}> $f.in; HOLDERS+=("$fd")
  for _ in $(seq 1 240); do grep -q READER_TASK_ID $f.out 2>/dev/null && break; sleep 1; done
  URL[$1]=$(sed -n 's/^TASK_URL=\([^ ]*\) .*/\1/p' $f.out); PID[$1]=$(sed -n 's/.*TASK_PID=//p' $f.out)
  AURL[$1]=$(sed -n 's/^AUTH_URL=\([^ ]*\) .*/\1/p' $f.out); APID[$1]=$(sed -n 's/.*AUTH_PID=//p' $f.out)
  TOK[$1]=$(sed -n 's/^READER_TOKEN=//p' $f.out); ID[$1]=$(sed -n 's/^READER_TASK_ID=//p' $f.out)
}
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
rss() { awk '/VmRSS/{print $2}' /proc/$1/status; }
run() { # name kind conns
  local n=$1 kind=$2 c=$3 pid url hdr=() lua=""
  case $kind in
    list) pid=${PID[$n]}; url="${URL[$n]}/tasks?limit=20";;
    get) pid=${PID[$n]}; url="${URL[$n]}/tasks/${ID[$n]}";;
    health) pid=${PID[$n]}; url="${URL[$n]}/tasks/health";;
    validate) pid=${APID[$n]}; url="${AURL[$n]}/auth/validate"
      printf 'wrk.method="POST"\nwrk.body=[[{"token":"%s"}]]\nwrk.headers["Content-Type"]="application/json"\n' "${TOK[$n]}" > $WORK/v.$n.lua; lua="-s $WORK/v.$n.lua";;
  esac
  local t0=$(ticks $pid) maxrss=0
  ( while sleep 0.5; do r=$(rss $pid); echo $r; done > $WORK/rss.$n ) & local sp=$!
  out=$(wrk -t2 -c$c -d8s $lua -H "Authorization: Bearer ${TOK[$n]}" "$url")
  kill $sp; wait $sp 2>/dev/null || true
  local t1=$(ticks $pid)
  local reqs=$(echo "$out" | awk '/requests in/{print $1}')
  local rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  local p99=$(echo "$out" | awk '/Latency/{print $2}')
  maxrss=$(sort -n $WORK/rss.$n | tail -1)
  local non2xx=$(echo "$out" | awk '/Non-2xx/{print $NF}')
  echo "$n $kind c=$c: $rps req/s, CPU $(awk -v d=$((t1-t0)) -v n=$reqs 'BEGIN{printf "%.1f", d*10000/n}') us/req, rss max $((maxrss/1024)) MiB, non2xx ${non2xx:-0}"
}
A=$1; B=$3; start $A $2; start $B $4
ROUNDS=$5; KIND=$6; C=${7:-64}
for r in $(seq 1 $ROUNDS); do run $A $KIND $C; run $B $KIND $C; done
# Closing each holder's standard input makes it stop its services and drop its database.
for fd in "${HOLDERS[@]}"; do exec {fd}>&-; done
wait 2>/dev/null || true
rm -rf "$WORK"
