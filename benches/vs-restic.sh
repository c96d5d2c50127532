#!/usr/bin/env bash
# Times restic (Debian's package) on the same data `cargo bench -p secretsnap-store --bench ingest`
# ingests:
# (a) the 100 000 records written as files, (b) 1 GiB as 16 × 64 MiB files. Files are written
# and read once first so both tools start from the page cache. Prints seconds and MB/s.
# Usage: bash benches/vs-restic.sh   (needs: apt-get install restic)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bench_bin=$(cargo bench -p secretsnap-store --bench ingest --no-run --message-format=json 2>/dev/null | python3 -c 'import sys,json
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and "ingest" in m["target"]["name"]: print(m["executable"])' | tail -1)
"$bench_bin" --dump-records "$work/records" 100000
"$bench_bin" --dump-blobs "$work/blobs"
export RESTIC_PASSWORD=bench
for set in records blobs; do
  bytes=$(du -sb "$work/$set" | cut -f1)
  find "$work/$set" -type f -exec cat {} + > /dev/null
  restic init -q -r "$work/repo-$set"
  start=$(date +%s.%N)
  restic backup -q -r "$work/repo-$set" "$work/$set" >/dev/null
  end=$(date +%s.%N)
  python3 -c "s=$end-$start; print(f'restic $set: {$bytes/2**20:.0f} MiB in {s:.2f} s = {$bytes/2**20/s:.1f} MiB/s')"
done
restic version
