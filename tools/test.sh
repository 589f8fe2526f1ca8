#!/usr/bin/env bash
# The whole test run: system packages, unit tests (swift test; the engine suites once per kernel ISA
# the CPU runs), a release build, the Python venv
# with the real MXNet 1.9.1 / h5py / safetensors, and the interop tests against them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PARAMKIT_FIXTURES=${PARAMKIT_FIXTURES:-$(cd .. && pwd)/shared/fixtures}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
echo "== $(tools/isa.sh --describe)"
tools/setup.sh
echo "== swift test (kernels: ${PARAMKIT_ISA:-$(tools/isa.sh | awk '{print $NF}')})"
swift test
# The kernel, golden-op and finite-difference tests once more for every other instruction set this
# CPU runs (the generic copy always), each in its own process with PARAMKIT_ISA fixed at load.
for isa in $(tools/isa.sh); do
  [ "$isa" = "${PARAMKIT_ISA:-$(tools/isa.sh | awk '{print $NF}')}" ] && continue
  echo "== swift test, engine suites with PARAMKIT_ISA=$isa"
  PARAMKIT_ISA=$isa swift test --skip-build --filter EngineTests
done
echo "== release build (the CLI and the bench harness the interop tests drive)"
swift build -c release
echo "== interop tests (MXNet 1.9.1, h5py, safetensors)"
tools/setup-python.sh
PARAMKIT_BIN="$PWD/.build/release/paramkit" PARAMKIT_BENCH_BIN="$PWD/.build/release/ParamKitBench" \
  .venv-interop/bin/pytest tools/interop -q -p no:cacheprovider
