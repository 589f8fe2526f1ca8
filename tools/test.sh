#!/usr/bin/env bash
# The whole test run: system packages, the Python venv with the real MXNet 1.9.1 / h5py /
# safetensors, the fixtures (written here by tools/make_fixtures.py; ../shared/fixtures is used
# instead when it is beside the checkout), unit tests (swift test; the engine suites once per kernel
# ISA the CPU runs), a release build, and the interop tests against the real libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
# Every scratch file of the run (the Swift tests', pytest's, the tools they start) goes under one
# directory, removed when the run ends however it ends.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/paramkit-test-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export TMPDIR=$scratch
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
echo "== $(tools/isa.sh --describe)"
tools/setup.sh
# Headless Chromium opens the HTML run report in the pipeline test (screenshot, console errors).
if ! command -v chromium >/dev/null; then
  sudo=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $sudo apt-get install -y -qq chromium >/dev/null 2>&1 || { $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null; } \
    || echo "chromium could not be installed: the report test checks the HTML without a browser"
fi
tools/setup-python.sh
echo "== fixtures: tools/make_fixtures.py .build/fixtures (MXNet 1.9.1, h5py, safetensors)"
.venv-interop/bin/python tools/make_fixtures.py .build/fixtures 2>&1 | grep -v "MKLDNN\|NaiveEngine"
shared=$(cd .. && pwd)/shared/fixtures
if [ -z "${PARAMKIT_FIXTURES:-}" ]; then
  if [ -d "$shared" ]; then PARAMKIT_FIXTURES=$shared; else PARAMKIT_FIXTURES=$PWD/.build/fixtures; fi
fi
export PARAMKIT_FIXTURES
echo "== fixtures in use: $PARAMKIT_FIXTURES"
echo "== swift test (kernels: ${PARAMKIT_ISA:-$(tools/isa.sh | awk '{print $NF}')})"
mkdir -p .build
swift test 2>&1 | tee .build/swift-test.log
echo "== $(grep -c '^➜ Test .* skipped' .build/swift-test.log || true) tests skipped (see the reasons above)"
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
export PARAMKIT_BIN="$PWD/.build/release/paramkit" PARAMKIT_BENCH_BIN="$PWD/.build/release/ParamKitBench"
.venv-interop/bin/pytest tools/interop -q -p no:cacheprovider
if [ "$PARAMKIT_FIXTURES" != "$PWD/.build/fixtures" ]; then
  # What a fresh clone without ../shared runs: every fixture-reading test on the generated set.
  echo "== fixture-reading tests on the generated fixtures (.build/fixtures), as a fresh clone runs them"
  PARAMKIT_FIXTURES=$PWD/.build/fixtures swift test --skip-build \
    --filter "FixtureTests|BadInputTests|RoundTripTests|AlgebraTests|GoldenOpTests|GoldenCoverageTests|ProposalTests"
  PARAMKIT_FIXTURES=$PWD/.build/fixtures .venv-interop/bin/pytest -q -p no:cacheprovider \
    tools/interop/test_mxnet.py tools/interop/test_hdf5.py tools/interop/test_safetensors.py tools/interop/test_recipes.py \
    tools/interop/test_schemas.py tools/interop/test_cli_contract.py
fi
