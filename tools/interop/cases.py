"""What the interop tests run on: paths, fixture names, and inputs built here with numpy and h5py."""
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

from formats import Tensor

REPO = Path(__file__).resolve().parents[2]
PARAMKIT_BIN = Path(os.environ.get("PARAMKIT_BIN", REPO / ".build/release/paramkit"))
# $PARAMKIT_FIXTURES, else ../shared/fixtures when it is there, else tools/make_fixtures.py's output.
_SHARED = REPO.parent / "shared/fixtures"
FIXTURES = Path(os.environ.get("PARAMKIT_FIXTURES", _SHARED if _SHARED.is_dir() else REPO / ".build/fixtures"))
SCHEMAS = REPO / "schemas"
CLI_SCHEMAS = ("inspect", "diff", "verify", "convert")  # schemas/<verb>.schema.json for `paramkit <verb> --json`

# Valid, dense, named .params fixtures; the first four use arg:/aux: keys (checkpoint convention).
CHECKPOINT_FIXTURES = ["tiny_vgg_rpn-0001", "tiny_vgg_rcnn-0001", "combined_expected-0000", "tiny_resnet-0000"]
DENSE_FIXTURES = CHECKPOINT_FIXTURES + ["dtypes", "legacy_v1", "legacy_v0", "gpu_context"]

# Tensor names HDF5 cannot hold as they are, and neighbours that need no escaping.
UNUSUAL_NAMES = ["a/b", "50%", "%2F", ".", " lead", "trail ", "  ", "   ", "in side", "..x", ""]


def sample_tensors():
    """One or more tensors of every dtype, args and auxs, with NaN/Inf/-0 among the floats."""
    rng = np.random.default_rng(7)
    f32 = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    f32.flat[:4] = [np.nan, np.inf, -np.inf, -0.0]
    bf16_values = np.array([1.0, -2.0, 0.1, 3.14159, 65504.0, -1e-3], np.float32)
    return {
        "arg:conv_weight": Tensor("float32", f32),
        "arg:conv_bias": Tensor("float32", rng.standard_normal(4).astype(np.float32)),
        "arg:f64": Tensor("float64", rng.standard_normal((3, 5))),
        "arg:f16": Tensor("float16", rng.standard_normal((2, 3)).astype(np.float16)),
        "arg:bf16": Tensor("bfloat16", (bf16_values.view(np.uint32) >> 16).astype(np.uint16).reshape(2, 3)),
        "arg:i8": Tensor("int8", rng.integers(-128, 128, 7).astype(np.int8)),
        "arg:u8": Tensor("uint8", rng.integers(0, 256, (2, 5)).astype(np.uint8)),
        "arg:i32": Tensor("int32", rng.integers(-2**31, 2**31, (3, 2)).astype(np.int32)),
        "arg:i64": Tensor("int64", rng.integers(-2**62, 2**62, 5).astype(np.int64)),
        "arg:mask": Tensor("bool", rng.random((2, 2, 2)) > 0.5),
        "arg:six_d": Tensor("float32", rng.standard_normal((2,) * 6).astype(np.float32)),
        "aux:bn_moving_mean": Tensor("float32", rng.standard_normal(4).astype(np.float32)),
        "aux:bn_moving_var": Tensor("float32", rng.random(4).astype(np.float32)),
        "aux:steps": Tensor("int64", np.array([12345], np.int64)),
    }


def unusual_tensors():
    return {f"arg:{n}": Tensor("float32", np.full(2, i, np.float32)) for i, n in enumerate(UNUSUAL_NAMES)}


EDITED = "conv1_1_weight"


def edited_copy(src, dst, change):
    """Copy a checkpoint .h5 and rewrite element 0 of /arg/conv1_1_weight as change(old value)."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        ds = f["arg"][EDITED]
        ds[0, 0, 0, 0] = change(ds[0, 0, 0, 0])
    return dst
