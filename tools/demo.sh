#!/usr/bin/env bash
# A short walk through ParamKit on the MXNet fixtures: inspect, convert, diff and verify.
set -euo pipefail
cd "$(dirname "$0")/.."
fixtures=${PARAMKIT_FIXTURES:-$(cd .. && pwd)/shared/fixtures}
tools/setup.sh >/dev/null
swift build -c release --product paramkit 2>&1 | tail -1
pk=.build/release/paramkit
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@" || echo "(exit $?)"; }

step $pk inspect "$fixtures/tiny_vgg_rpn" --epoch 1 --group-by-prefix
step $pk inspect "$fixtures/tiny_vgg_rcnn-0001.params" --stats
step $pk convert "$fixtures/combined_expected-0000.params" "$work/final.h5"
step $pk verify "$work/final.h5"
step $pk convert "$work/final.h5" "$work/final-0000.params"
step cmp "$work/final-0000.params" "$fixtures/combined_expected-0000.params"
echo "byte-identical to the MXNet-written file"
step $pk diff "$fixtures/tiny_vgg_rpn-0001.params" "$fixtures/tiny_vgg_rcnn-0001.params"
step $pk diff "$fixtures/tiny_vgg_rpn.safetensors" "$fixtures/tiny_vgg_rpn.h5"
step $pk inspect "$fixtures/huge_shape.params"
