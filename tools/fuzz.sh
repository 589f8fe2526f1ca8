#!/usr/bin/env bash
# Builds the libFuzzer program (with AddressSanitizer) and fuzzes one input kind, or each in turn.
#
#     tools/fuzz.sh TARGET [SECONDS]     TARGET: params checkpoint dataset proposals yaml voc, or all
#
# SECONDS (default 600) is per target. The run starts from the kept corpus (fuzz/corpus/TARGET),
# seeds the project's own writers make (FuzzHarness.writeSeeds) and, when they are there, the
# fixtures and examples; it grows in fuzz/corpus-run/TARGET (ignored by git). At the end the kept
# corpus is replaced by the minimised merge of both (libFuzzer -merge=1), and any crash, leak,
# timeout or over-allocation is written to fuzz/findings/TARGET/ — add it to git: the corpus replay
# test (Tests/StagesTests/FuzzCorpusTests.swift) runs every kept input through the same harness.
# The log with libFuzzer's final statistics goes to fuzz/corpus-run/TARGET.log. An HDF5 input the
# libhdf5 probe gives up on takes the probe's time limit per open (a clean error, not a hang): the
# limit is 1 s here (PARAMKIT_H5PROBE_SECONDS; 5 s by default), so that looping files do not eat the
# run, and an input counts as a hang past 20 s.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(params checkpoint dataset proposals yaml voc)
which=${1:?usage: tools/fuzz.sh TARGET|all [SECONDS] (targets: ${targets[*]})}
seconds=${2:-600}
[ "$which" = all ] && run=("${targets[@]}") || run=("$which")
fixtures=${PARAMKIT_FIXTURES:-../shared/fixtures}
[ -d "$fixtures" ] || fixtures=.build/fixtures

PARAMKIT_FUZZ=1 swift build --scratch-path .build-fuzz -c debug --sanitize=fuzzer \
    -Xswiftc -sanitize=fuzzer,address --product ParamKitFuzz
# The libhdf5 probe's own small program, beside the fuzzer (the probe looks for it there).
swift build -c release --product paramkit-h5probe
ln -sf "$PWD/.build/release/paramkit-h5probe" .build-fuzz/debug/paramkit-h5probe
fuzzer=.build-fuzz/debug/ParamKitFuzz

for target in "${run[@]}"; do
  case " ${targets[*]} " in *" $target "*) ;; *) echo "unknown target '$target' (targets: ${targets[*]})" >&2; exit 2;; esac
  seeds=fuzz/seeds/$target kept=fuzz/corpus/$target grown=fuzz/corpus-run/$target findings=fuzz/findings/$target
  mkdir -p "$seeds" "$kept" "$grown" "$findings"
  PARAMKIT_FUZZ_TARGET=$target PARAMKIT_FUZZ_WRITE_SEEDS=$seeds "$fuzzer"
  case $target in
    params) cp "$fixtures"/*.params "$fixtures"/*.safetensors "$seeds"/ 2>/dev/null || true ;;
    checkpoint) cp "$fixtures"/*.h5 "$seeds"/ 2>/dev/null || true ;;
    yaml) cp examples/*.yaml examples/networks/*.yaml "$seeds"/ ;;
  esac
  echo "== fuzzing $target for $seconds s"
  PARAMKIT_FUZZ_TARGET=$target PARAMKIT_H5PROBE_SECONDS=1 ASAN_OPTIONS=detect_leaks=0 "$fuzzer" "$grown" "$kept" "$seeds" \
      -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=20 -report_slow_units=30 -print_final_stats=1 \
      -artifact_prefix="$findings/" 2>&1 | tee "$grown.log" | grep -E "^#[0-9]+ +(INITED|DONE)|^stat::|ERROR|SUMMARY" || true
  merged=$(mktemp -d)
  PARAMKIT_FUZZ_TARGET=$target PARAMKIT_H5PROBE_SECONDS=1 ASAN_OPTIONS=detect_leaks=0 "$fuzzer" -merge=1 "$merged" "$kept" "$grown" "$seeds" \
      >"$grown.merge.log" 2>&1
  rm -rf "$kept" && mv "$merged" "$kept" && chmod 755 "$kept"
  echo "== $target: $(ls "$kept" | wc -l) inputs kept ($(du -sh "$kept" | cut -f1)), $(ls "$findings" | wc -l) findings"
done
