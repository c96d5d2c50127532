#!/usr/bin/env bash
# A fleet on one bucket: N agents (default 12), each with its own cache and its own project,
# back up in a loop into one S3 repository on moto while the projects change (a new version of a
# random secret every second) and a maintenance loop runs `forget --keep-last 2` then `prune`
# (lock-free maintenance) every 10 s. The repository is made with a 60 s margin and 5 s skew, so
# marked packs are deleted within the run. At the end: backups committed / refused (exit 5) /
# failed, maintenance runs completed / failed, `check --read-data`, every agent's latest snapshot
# restored into an empty project and compared value by value with its source, and the bucket's
# size against the bytes no snapshot references (garbage) and the bytes backups uploaded per
# margin.
# With EXCLUSIVE=1 the maintenance loop runs `prune --exclusive --wait-lock 60s` instead (what
# the fleet had before lock-free maintenance), for comparison.
# Usage: [EXCLUSIVE=1] bash benches/fleet.sh [AGENTS] [SECONDS]   (default 12 180). Needs target/debug/secretsnap
# and the test venv (moto): python3 -m venv target/test-venv && target/test-venv/bin/pip install
# 'moto[server]==5.2.5'.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${SECRETSNAP_BIN:-target/debug/secretsnap}")
[ -x "$bin" ] || { echo "build the binary first: cargo build (or set SECRETSNAP_BIN)" >&2; exit 2; }
venv=$(realpath target/test-venv)
agents=${1:-12}
seconds=${2:-180}
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
moto_port=$(free_port)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" > "$work/moto.log" 2>&1 &
moto_pid=$!
"$bin" --json emulator scaleway --rate-limit 0 > "$work/emu.json" &
emu_pid=$!
trap 'kill $moto_pid $emu_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$moto_port/" > /dev/null 2>&1 && break; sleep 0.2; done
for _ in $(seq 1 100); do [ -s "$work/emu.json" ] && break; sleep 0.2; done
curl -fsS -X PUT "http://127.0.0.1:$moto_port/fleet" > /dev/null
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" SECRETSNAP_S3_PATH_STYLE=1
export SCW_API_URL=$(python3 -c "import json; print(json.load(open('$work/emu.json'))['url'])")
export SCW_SECRET_KEY=fleet-token
printf 'fleet\n' > "$work/pw"
export SECRETSNAP_PASSWORD_FILE="$work/pw" SECRETSNAP_REPOSITORY=s3://fleet/repo
project() { printf '%08x-5555-4000-8000-%012x' "$1" "$1"; }
fresh() { printf '%08x-6666-4000-8000-%012x' "$1" "$1"; }

# The emulator's API, for seeding, churn and comparison (stdlib only).
cat > "$work/scw.py" <<'PY'
import base64, json, os, random, sys, time, urllib.request
API = os.environ["SCW_API_URL"] + "/secret-manager/v1beta1/regions/"
def call(method, path, body=None):
    req = urllib.request.Request(API + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"X-Auth-Token": "fleet-token", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        text = r.read()
        return json.loads(text) if text else None
def secrets(region, project):
    return call("GET", f"{region}/secrets?project_id={project}&page_size=100")["secrets"]
def values(region, project):
    out = {}
    for s in secrets(region, project):
        for v in call("GET", f"{region}/secrets/{s['id']}/versions?page_size=100")["versions"]:
            data = call("GET", f"{region}/secrets/{s['id']}/versions/{v['revision']}/access")["data"]
            out[(s["name"], v["revision"])] = data
    return out
cmd = sys.argv[1]
if cmd == "seed":
    for project in sys.argv[2:]:
        for i in range(20):
            s = call("POST", "fr-par/secrets", {"project_id": project, "name": f"app-{i:02}"})
            for v in range(2):
                call("POST", f"fr-par/secrets/{s['id']}/versions",
                     {"data": base64.b64encode(os.urandom(200)).decode()})
elif cmd == "churn":
    until, projects = float(sys.argv[2]), sys.argv[3:]
    ids = [s["id"] for p in projects for s in secrets("fr-par", p)]
    while time.time() < until:
        call("POST", f"fr-par/secrets/{random.choice(ids)}/versions",
             {"data": base64.b64encode(os.urandom(200)).decode()})
        time.sleep(1)
elif cmd == "same":
    a, b = values("fr-par", sys.argv[2]), values("nl-ams", sys.argv[3])
    print("equal" if a == b else f"DIFFERENT ({len(a)} vs {len(b)} versions)")
PY

projects=()
for i in $(seq 1 "$agents"); do projects+=("$(project "$i")"); done
echo "== seeding $agents projects × 20 secrets × 2 versions"
python3 "$work/scw.py" seed "${projects[@]}"
"$bin" init --gc-margin 60s --gc-skew 5s > /dev/null
start=$(date +%s)
end=$((start + seconds))
python3 "$work/scw.py" churn "$((end - 20))" "${projects[@]}" &
churn_pid=$!

agent() {
  local i=$1 p
  p=$(project "$i")
  while [ "$(date +%s)" -lt "$end" ]; do
    rc=0
    "$bin" --json --cache-dir "$work/cache-$i" backup "scaleway://fr-par/$p" \
      > /dev/null 2> "$work/agent-$i.err" || rc=$?
    echo "$rc" >> "$work/agent-$i.rc"
  done
}
prune_args=()
[ "${EXCLUSIVE:-0}" = 1 ] && prune_args=(--exclusive --wait-lock 60s)
maintenance() {
  while [ "$(date +%s)" -lt "$end" ]; do
    "$bin" --json --cache-dir "$work/cache-m" forget --keep-last 2 > /dev/null 2>> "$work/m.err" || true
    rc=0
    "$bin" --json --cache-dir "$work/cache-m" prune "${prune_args[@]}" > "$work/m.out" 2>> "$work/m.err" || rc=$?
    echo "$rc $(cat "$work/m.out" | tr -d '\n')" >> "$work/m.log"
    sleep 10
  done
}
echo "== $agents agents for $seconds s, maintenance every 10 s"
pids=()
for i in $(seq 1 "$agents"); do agent "$i" & pids+=($!); done
maintenance & pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done
wait "$churn_pid" 2>/dev/null || true

python3 - "$work" "$agents" <<'PY'
import glob, json, sys
work, agents = sys.argv[1], int(sys.argv[2])
codes = [int(l) for f in glob.glob(f"{work}/agent-*.rc") for l in open(f)]
runs = [l.split(" ", 1) for l in open(f"{work}/m.log")]
reports = [json.loads(r[1]) for r in runs if r[0] == "0"]
print(f"backups: {codes.count(0)} committed, {codes.count(5)} refused (exit 5), "
      f"{len([c for c in codes if c not in (0, 5)])} failed")
print(f"maintenance: {len(reports)} of {len(runs)} runs completed; "
      f"{sum(r.get('packs_marked', 0) for r in reports)} packs marked, "
      f"{sum(r['packs_deleted'] for r in reports)} deleted "
      f"({sum(r['bytes_freed'] for r in reports)} bytes), "
      f"{sum(r.get('marks_withdrawn', 0) for r in reports)} marks withdrawn")
PY
[ -s "$work/m.err" ] && { echo "maintenance stderr:"; sort "$work/m.err" | uniq -c | head; }
for i in $(seq 1 "$agents"); do
  grep -h "^error" "$work/agent-$i.err" 2>/dev/null | head -1 || true
done

echo "== check --read-data"
"$bin" --cache-dir "$work/cache-m" check --read-data | tail -1
echo "== every agent's latest snapshot restored and compared"
ok=0
for i in $(seq 1 "$agents"); do
  p=$(project "$i"); q=$(fresh "$i")
  id=$("$bin" --json --cache-dir "$work/cache-m" snapshots | python3 -c "
import json, sys
s = [x for x in json.load(sys.stdin)['snapshots'] if x['source'].endswith('$p')]
print(sorted(s, key=lambda x: x['time'])[-1]['id'])")
  "$bin" --json --cache-dir "$work/cache-m" restore "$id" "scaleway://nl-ams/$q" > /dev/null
  same=$(python3 "$work/scw.py" same "$p" "$q")
  [ "$same" = equal ] && ok=$((ok + 1)) || echo "agent $i: $same"
done
echo "restored equal: $ok of $agents"

echo "== repository size"
python3 - <<'PY'
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
total, by = 0, {}
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="fleet", Prefix="repo/"):
    for o in page.get("Contents", []):
        kind = o["Key"].split("/")[1]
        by[kind] = by.get(kind, 0) + o["Size"]; total += o["Size"]
print(f"bucket: {total} bytes", {k: v for k, v in sorted(by.items())})
PY
"$bin" --json --cache-dir "$work/cache-m" prune --exclusive --dry-run | python3 -c "
import json, sys; r = json.load(sys.stdin)
print(f\"garbage now (what an exclusive prune would free): {r['bytes_freed']} bytes in {r['packs_deleted']} packs\")"
"$bin" --json --cache-dir "$work/cache-m" prune --dry-run | python3 -c "
import json, sys, datetime
r = json.load(sys.stdin)
at = r['reclaimable_at']
left = (datetime.datetime.fromisoformat(at[:26] + '+00:00') - datetime.datetime.now(datetime.timezone.utc)).total_seconds() if at else 0
print(f\"marked, pending deletion: {r['bytes_pending']} bytes; the oldest mark becomes reclaimable in {left:.0f} s (margin + 2 x skew = 70 s after marking)\")"
