#!/usr/bin/env bash
# The kernel instruction sets this CPU runs (as CKernels/isa.c decides them), best last:
# "generic", then "avx2" with AVX2+FMA, then "avx512" with AVX-512 F, DQ, BW and VL.
# `tools/isa.sh --describe` prints one line about the CPU instead.
set -euo pipefail
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for f in "$@"; do [[ "$flags" == *" $f "* ]] || return 1; done; }
isas="generic"
if has avx2 fma; then
  isas="$isas avx2"
  if has avx512f avx512dq avx512bw avx512vl; then isas="$isas avx512"; fi
fi
if [ "${1:-}" = "--describe" ]; then
  model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
  family=$(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
  echo "CPU: $model (family $family), $(nproc) cores; kernel ISAs: $isas (best: ${isas##* });" \
       "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; PARAMKIT_ISA=${PARAMKIT_ISA:-unset}"
else
  echo "$isas"
fi
