#!/usr/bin/env bash
# P1 on MongoDB (SecantusDB) for several builds, interleaved, each run on a freshly started
# SecantusDB (it slows with every write, even across dropped databases).
#
#   bench/scripts/p1_mongo_ab.sh ROUNDS DIR...
#
# Each DIR holds an `imbridge` and an `imbridge-bench` built from one tree
# (`cargo build --release --bin imbridge --bin imbridge-bench`, then copy both). SECANTUSD names the
# server (default: secantusd-py on PATH); it listens on 127.0.0.1:27117 and must be the only one.
set -euo pipefail
rounds=$1; shift
secantusd=${SECANTUSD:-secantusd-py}
stop() { pkill -f "secantusd-py --host 127.0.0.1 --port 27117" || true
         while pgrep -f "secantusd-py --host 127.0.0.1 --port 27117" >/dev/null; do sleep 0.5; done; }
trap stop EXIT
for round in $(seq 1 "$rounds"); do
  for dir in "$@"; do
    stop
    "$secantusd" --host 127.0.0.1 --port 27117 --storage-path :memory: --log-level WARNING >/dev/null 2>&1 &
    sleep 4
    echo "=== $dir, round $round, $(date -u +%T)"
    "$dir/imbridge-bench" p1 --store mongo --mongo-uri 'mongodb://127.0.0.1:27117/?directConnection=true' \
      --ceiling-writers 1 --repeat 1
  done
done
