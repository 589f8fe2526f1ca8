#!/usr/bin/env bash
# The full benchmark: system packages, the Python venv with the peers, a release build, then
# bench/run.py with this script's arguments (e.g. --workdir /dev/shm/paramkit-bench, --repeat 5).
set -euo pipefail
invoked_as="bench/run.sh$(printf " %q" "$@")"
cd "$(dirname "$0")/.."
tools/setup.sh
tools/setup-python.sh
echo "== release build"
swift build -c release
echo "== benchmark"
PARAMKIT_BENCH_INVOKED_AS="$invoked_as" exec .venv-interop/bin/python bench/run.py "$@"
