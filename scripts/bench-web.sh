#!/usr/bin/env bash
# Server time of every dashboard page on a running server (the demo data set), with the
# API's `GET /v1/audit/entries?limit=50` as the reference figure of the same run.
#
#   scripts/bench-web.sh [URL] TOKEN [RUNS]
#
# Signs in through /login like a browser, then requests each page RUNS times (default 30)
# one after another and prints the median and the 95th percentile of curl's time to the
# first byte (the server's time plus a loopback round trip), in milliseconds.
set -euo pipefail
url=${1:-http://127.0.0.1:8080}
token=${2:?usage: bench-web.sh [URL] TOKEN [RUNS]}
runs=${3:-30}
jar=$(mktemp)
trap 'rm -f "$jar"' EXIT

csrf=$(curl -s -c "$jar" "$url/login" | grep -o 'name="csrf" value="[0-9a-f]*"' | head -1 | sed 's/.*value="//; s/"//')
curl -s -b "$jar" -c "$jar" -o /dev/null -d "csrf=$csrf&token=$token" "$url/login"

api() { curl -s -H "Authorization: Bearer $token" "$url$1"; }
first() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
entry=$(api '/v1/audit/entries?entity_type=invoice&operation=update&order=desc&limit=1' | first "['entries'][0]['id']")
invoice=$(api '/v1/audit/entries?entity_type=invoice&operation=update&order=desc&limit=1' | first "['entries'][0]['entity_id']")
bulk=$(api '/v1/audit/entries?operation=bulk&order=desc&limit=1' | first "['entries'][0]['id']")

measure() { # name, path, [auth header]
  local name=$1 path=$2 times
  times=$(for _ in $(seq "$runs"); do
    if [ $# -ge 3 ]; then
      curl -s -o /dev/null -w '%{time_starttransfer}\n' -H "$3" "$url$path"
    else
      curl -s -o /dev/null -w '%{time_starttransfer}\n' -b "$jar" "$url$path"
    fi
  done | sort -n)
  python3 - "$name" "$path" <<PY
import sys
t = [float(x) * 1000 for x in """$times""".split()]
p = lambda q: t[min(len(t) - 1, int(q * len(t)))]
print(f"| {sys.argv[1]} | \`{sys.argv[2][:70]}\` | {p(0.5):.1f} | {p(0.95):.1f} |")
PY
}

echo "| page | path | median ms | p95 ms |"
echo "|---|---|---|---|"
measure "reference: API search" "/v1/audit/entries?limit=50" "Authorization: Bearer $token"
measure "live feed" "/"
measure "search" "/search?entity_type=invoice&order=desc"
measure "entry" "/entries/$entry"
measure "entity" "/entities/invoice/$invoice"
measure "entity diff" "/entities/invoice/$invoice?diff=1,2"
measure "rollbacks" "/rollbacks"
measure "rollback preview" "/rollbacks/new?kind=bulk&bulk_id=$bulk&strategy=strict&preview=1"
measure "snapshots" "/snapshots"
measure "alerts" "/alerts"
measure "ledger" "/ledger"
measure "sign-in form" "/login"
