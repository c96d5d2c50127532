#!/usr/bin/env bash
# Peak memory of a backup at account scale: the emulator (its own process, so its state is not
# counted) seeded with N secrets of one version each, its rate limit raised so the run is bound
# by CPU rather than by 50 requests/s, then `secretsnap backup` through the built binary under
# /usr/bin/time. Prints, per size, the wall time, the API calls and the peak RSS of the backup
# process; run it for several sizes to get the growth per 10 000 secrets. With RESTORE=1 it
# then restores that snapshot into an empty project of the same emulator and prints the restore's
# peak RSS too.
# Usage: [RESTORE=1] bash benches/memory.sh [N ...]   (default: 10000 50000 100000)
# Needs the binary: `cargo build --profile test` (or set SECRETSNAP_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SECRETSNAP_BIN:-target/debug/secretsnap}
[ -x "$bin" ] || { echo "build the binary first: cargo build (or set SECRETSNAP_BIN)" >&2; exit 2; }
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 50000 100000)
work=$(mktemp -d)
emu_pid=
cleanup() { [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
project=dddddddd-4444-4000-8000-00000000000d
for n in "${sizes[@]}"; do
  "$bin" --json emulator scaleway --rate-limit 1000000 --seed-project "$project" \
    --seed-secrets "$n" --seed-versions 1 > "$work/emu.json" &
  emu_pid=$!
  for _ in $(seq 1 1800); do [ -s "$work/emu.json" ] && break; sleep 0.5; done
  url=$(python3 -c "import json,sys; print(json.load(open('$work/emu.json'))['url'])")
  rm -rf "$work/repo"
  printf 'bench\n' > "$work/pw"
  export SECRETSNAP_PASSWORD_FILE="$work/pw" SCW_API_URL="$url" SCW_SECRET_KEY=bench-token
  "$bin" -r "$work/repo" init > /dev/null
  /usr/bin/time -f '%e %M' -o "$work/time" \
    "$bin" --json -r "$work/repo" --cache-dir "$work/cache" backup "scaleway://fr-par/$project" \
    > "$work/out.json"
  read -r wall rss_kib < "$work/time"
  calls=$(python3 -c "import json; print(json.load(open('$work/out.json'))['backup']['api_calls'])")
  python3 -c "print(f'$n secrets: {float(\"$wall\"):.1f} s, $calls API calls, peak RSS {int(\"$rss_kib\")/1024:.1f} MiB')"
  if [ "${RESTORE:-0}" = 1 ]; then
    target=eeeeeeee-4444-4000-8000-00000000000e
    /usr/bin/time -f '%e %M' -o "$work/time" \
      "$bin" --json -r "$work/repo" --cache-dir "$work/cache" restore latest \
      "scaleway://fr-par/$target" > "$work/restore.json"
    read -r wall rss_kib < "$work/time"
    created=$(python3 -c "import json; print(json.load(open('$work/restore.json'))['report']['created_secrets'])")
    python3 -c "print(f'  restore: {float(\"$wall\"):.1f} s, $created secrets created, peak RSS {int(\"$rss_kib\")/1024:.1f} MiB')"
  fi
  kill "$emu_pid"; wait "$emu_pid" 2>/dev/null || true; emu_pid=
done
