#!/usr/bin/env bash
# Faithfulness checked by someone else's client: greenswitch, a gevent-based
# Event Socket client from PyPI that has nothing to do with this project,
# talks to the simulator. It authenticates, subscribes, receives a
# CHANNEL_ANSWER with the right headers decoded, and runs an api and a bgapi
# (third_party_check.py). Prints "N passed, M failed"; exits non-zero on any
# failure.
#
# Installs greenswitch into integration/.venv (or $TOLLGATE_ESL_VENV) when
# it is missing; needs python3 with venv and pip, and PyPI.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="${TOLLGATE_ESL_VENV:-$here/.venv}"
python="${PYTHON:-python3}"

if ! "$venv/bin/python" -c 'import greenswitch' >/dev/null 2>&1; then
    echo "installing greenswitch into $venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'greenswitch==0.0.19'
fi

cd "$root"
cargo build --quiet -p integration --bin fake-freeswitch
target="$(cargo metadata --format-version 1 --no-deps |
    "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target/debug/fake-freeswitch"

log="$(mktemp)"
"$bin" --listen 127.0.0.1:0 --speed 2 \
    --scenario "$here/scenarios/third-party.json" --records /dev/null 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT

addr=""
for _ in $(seq 100); do
    addr="$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$log")"
    [ -n "$addr" ] && break
    sleep 0.1
done
if [ -z "$addr" ]; then
    echo "the simulator did not start:"
    cat "$log"
    echo "0 passed, 1 failed"
    exit 1
fi

"$venv/bin/python" "$here/third_party_check.py" "${addr%:*}" "${addr##*:}"
