#!/usr/bin/env bash
# Run the Bruno collection with the Bruno CLI against a fresh `hashinsight demo --headless`.
# Usage: scripts/bru_demo_check.sh [path to bru] (default: `bru` on the PATH;
# install it with `npm install -g @usebruno/cli`). Extra `bru run` options can follow.
#
# The demo is started with private/plain-HTTP webhook URLs allowed so the webhook requests can
# register a loopback URL (the discard port: nothing listens, deliveries just retry); every id
# the requests use comes from earlier answers in the same run, so the run needs a fresh demo.
set -euo pipefail

BRU="${1:-bru}"
shift || true
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
cleanup() {
  if [[ -n "${DEMO_PID:-}" ]]; then kill "$DEMO_PID" 2>/dev/null || true; wait "$DEMO_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

HOME="$WORK" HASHINSIGHT_WEBHOOKS_ALLOW_PRIVATE=true HASHINSIGHT_WEBHOOKS_ALLOW_HTTP=true \
  hashinsight demo --headless >"$WORK/demo.log" 2>&1 &
DEMO_PID=$!
for _ in $(seq 1 120); do
  grep -q '^Operator key:' "$WORK/demo.log" && break
  kill -0 "$DEMO_PID" 2>/dev/null || { cat "$WORK/demo.log"; exit 1; }
  sleep 0.5
done
URL="$(sed -n 's/^HashInsight API: //p' "$WORK/demo.log")"
KEY="$(sed -n 's/^Operator key: //p' "$WORK/demo.log")"
[[ -n "$URL" && -n "$KEY" ]] || { echo "the demo printed no URL and key" >&2; exit 1; }

# The collection approves one and rejects another of the two commands the demo's night shift
# queues once its fleet has been polled (a few seconds after start): wait for them, as an
# operator would wait for the approval queue to fill.
python - "$URL" "$KEY" <<'PY' || exit 1
import sys, time
import httpx
url, key = sys.argv[1], sys.argv[2]
headers = {"Authorization": f"Bearer {key}"}
params = {"state": "pending_approval", "limit": 10}
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    page = httpx.get(f"{url}/api/v1/fleet/commands", params=params, headers=headers, timeout=5)
    if page.status_code == 200 and len(page.json()["items"]) >= 2:
        sys.exit(0)
    time.sleep(0.5)
sys.exit("the demo queued no commands for approval within 60 s")
PY

cd "$ROOT/collections/hashinsight"
"$BRU" run --env Local --env-var "baseUrl=$URL" --env-var "apiKey=$KEY" \
  --env-var "webhookUrl=http://127.0.0.1:9/hashinsight" "$@"
