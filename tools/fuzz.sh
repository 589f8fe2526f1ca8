#!/usr/bin/env bash
# Build the libFuzzer target for the .params and safetensors readers (with AddressSanitizer) and run
# it. Usage: tools/fuzz.sh [SECONDS] (default 600). Seeds come from the fixtures; the corpus grows in
# fuzz/corpus-run/ (ignored by git). Findings are written as crash-*/leak-*/timeout-* files.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
fixtures=${PARAMKIT_FIXTURES:-../shared/fixtures}
PARAMKIT_FUZZ=1 swift build --scratch-path .build-fuzz -c debug --sanitize=fuzzer \
    -Xswiftc -sanitize=fuzzer,address --product ParamKitFuzz
mkdir -p fuzz/corpus-run fuzz/seeds
cp "$fixtures"/*.params "$fixtures"/*.safetensors fuzz/seeds/ 2>/dev/null || true
ASAN_OPTIONS=detect_leaks=0 .build-fuzz/debug/ParamKitFuzz fuzz/corpus-run fuzz/seeds \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 -print_final_stats=1
