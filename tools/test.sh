#!/usr/bin/env bash
# The whole test run: system packages, unit tests (swift test), a release build, the Python venv
# with the real MXNet 1.9.1 / h5py / safetensors, and the interop tests against them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PARAMKIT_FIXTURES=${PARAMKIT_FIXTURES:-$(cd .. && pwd)/shared/fixtures}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
tools/setup.sh
echo "== swift test"
swift test
echo "== release build (the CLI and the bench harness the interop tests drive)"
swift build -c release
echo "== interop tests (MXNet 1.9.1, h5py, safetensors)"
tools/setup-python.sh
PARAMKIT_BIN="$PWD/.build/release/paramkit" PARAMKIT_BENCH_BIN="$PWD/.build/release/ParamKitBench" \
  .venv-interop/bin/pytest tools/interop -q -p no:cacheprovider
