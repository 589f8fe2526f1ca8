#!/usr/bin/env bash
# Create the Python venv used by the interop tests and the peer benchmarks (idempotent).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv-interop"
# numpy 1.23.5 is required: mxnet 1.9.1 uses numpy.bool, which numpy 1.24 removed.
requirements="mxnet==1.9.1 numpy==1.23.5 h5py safetensors xxhash jsonschema pytest pyyaml"
stamp="$venv/.paramkit-requirements"

if [ ! -x "$venv/bin/python" ]; then
  echo "creating venv $venv"
  python3 -m venv "$venv"
else
  echo "venv exists: $venv"
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$requirements" ]; then
  echo "requirements already installed (stamp $stamp)"
else
  echo "installing: $requirements"
  rm -f "$stamp"
  "$venv/bin/pip" install --disable-pip-version-check -q $requirements
fi

echo "checking imports"
"$venv/bin/python" -c '
import mxnet, numpy, h5py, safetensors, xxhash, jsonschema, pytest, yaml
print("mxnet", mxnet.__version__, "numpy", numpy.__version__, "h5py", h5py.__version__,
      "safetensors", safetensors.__version__)'
echo "$requirements" > "$stamp"
