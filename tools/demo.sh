#!/usr/bin/env bash
# A short walk through ParamKit: inspect, convert, diff and verify on the MXNet fixtures, then the
# training stages on a synthetic set.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh >/dev/null
# The MXNet-written files: ../shared/fixtures when it is beside the checkout, else written here with
# the real MXNet 1.9.1 (tools/make_fixtures.py, in the project's venv).
fixtures=${PARAMKIT_FIXTURES:-$(cd .. && pwd)/shared/fixtures}
if [ ! -d "$fixtures" ]; then
  tools/setup-python.sh >/dev/null
  .venv-interop/bin/python tools/make_fixtures.py .build/fixtures 2>&1 | grep -v "MKLDNN\|NaiveEngine"
  fixtures=$PWD/.build/fixtures
fi
swift build -c release --product paramkit 2>&1 | tail -1
swift build -c release --product paramkit-h5probe 2>&1 | tail -1
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

# The training stages on a synthetic set (tiny-vgg from scratch, under a minute).
cfg=(--config examples/synth-tiny.yaml)
step $pk dataset synth --images 160 --size 128 --classes 3 --seed 1 -o "$work/train.h5"
step $pk dataset synth --images 60 --size 128 --classes 3 --seed 2 -o "$work/test.h5"
step $pk init --network tiny-vgg --pretrained none --classes 4 --seed 0 -o "$work/init.h5"
step $pk train rpn --init "$work/init.h5" --freeze none --data "$work/train.h5" -o "$work/rpn1.h5" "${cfg[@]}"
step $pk propose --model "$work/rpn1.h5" --data "$work/train.h5" -o "$work/rpn1.proposals.h5" "${cfg[@]}"
step $pk combine --recipe examples/combine-pretrained-rpn-imagenet.yaml "$work/rpn1.h5" "$work/init.h5" -o "$work/rcnn-init.h5"
step $pk train rcnn --init "$work/rcnn-init.h5" --proposals "$work/rpn1.proposals.h5" --freeze FIXED_PARAMS_SHARED \
    --data "$work/train.h5" -o "$work/rcnn1.h5" "${cfg[@]}" --set epochs=20 --set lr_steps=[18]
step $pk audit "$work/rcnn-init.h5" "$work/rcnn1.h5" --frozen FIXED_PARAMS_SHARED
step $pk combine "$work/rpn1.h5" "$work/rcnn1.h5" -o "$work/final.h5"
step $pk eval --model "$work/final.h5" --data "$work/test.h5" "${cfg[@]}"
step $pk lineage "$work/final.h5" fc6_weight

# The same sets through the full 4-step alternate schedule, declared once (examples/alternate-tiny.yaml):
# the first run trains every stage, the second finds them all up to date.
alt=(pipeline run examples/alternate-tiny.yaml --input "train=$work/train.h5" --input "test=$work/test.h5" --dir "$work/alternate")
step $pk "${alt[@]}" --dry-run
step $pk "${alt[@]}"
step $pk "${alt[@]}"
