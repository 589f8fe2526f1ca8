"""safetensors (numpy) reads what ParamKit writes, and ParamKit reads what safetensors writes."""
import numpy as np
import pytest
import safetensors.numpy

from cases import CHECKPOINT_FIXTURES
from formats import Tensor, assert_same, load_h5, load_mx, load_safetensors, safetensors_header

# Shapes classic MXNet can hold, one per safetensors dtype, and the ones it cannot (0-d, zero-size).
RNG = np.random.default_rng(11)
REGULAR = {
    "arg:f32": RNG.standard_normal((3, 4)).astype(np.float32),
    "arg:f64": RNG.standard_normal(5),
    "arg:f16": RNG.standard_normal((2, 2, 2)).astype(np.float16),
    "arg:i8": RNG.integers(-128, 128, 6).astype(np.int8),
    "arg:u8": RNG.integers(0, 256, (2, 3)).astype(np.uint8),
    "arg:i32": RNG.integers(-2**31, 2**31, 4).astype(np.int32),
    "aux:i64": RNG.integers(-2**62, 2**62, (1, 3)).astype(np.int64),
    "aux:flags": RNG.random(5) > 0.5,
}
SPECIAL = {
    "arg:scalar": np.array(2.5, np.float32),
    "aux:count": np.array(7, np.int64),
    "arg:empty": np.zeros((0,), np.float32),
    "arg:empty_2d": np.zeros((2, 0, 3), np.int32),
}


def as_tensors(arrays):
    return {k: Tensor(a.dtype.name, a) for k, a in arrays.items()}


@pytest.mark.parametrize("source_params", CHECKPOINT_FIXTURES, indirect=True)
def test_safetensors_loads_paramkit_output(paramkit, source_params, tmp_path):
    out = tmp_path / "out.safetensors"
    paramkit("convert", source_params, out)
    assert_same(load_safetensors(out), load_mx(source_params), "safetensors vs source")


def test_paramkit_reads_safetensors_file(paramkit, tmp_path):
    every = {**REGULAR, **SPECIAL}
    src, h5 = tmp_path / "all.safetensors", tmp_path / "all.h5"
    safetensors.numpy.save_file(every, str(src))
    paramkit("convert", src, h5)
    assert_same(load_h5(h5), as_tensors(every), "safetensors -> h5")

    params, back = tmp_path / "all.params", tmp_path / "back.safetensors"
    paramkit("convert", src, params)
    paramkit("convert", params, back)
    assert_same(load_safetensors(back), as_tensors(every), "safetensors -> params -> safetensors")


def test_mxnet_loads_params_converted_from_safetensors(paramkit, tmp_path):
    src, out = tmp_path / "regular.safetensors", tmp_path / "regular.params"
    safetensors.numpy.save_file(REGULAR, str(src))
    paramkit("convert", src, out)
    assert_same(load_mx(out), as_tensors(REGULAR), "safetensors -> params")


def test_bfloat16_survives_safetensors(paramkit, sample_params, tmp_path):
    st, back = tmp_path / "sample.safetensors", tmp_path / "back.params"
    paramkit("convert", sample_params, st)
    assert safetensors_header(st)["arg:bf16"]["dtype"] == "BF16"
    paramkit("convert", st, back)
    assert_same(load_mx(back), load_mx(sample_params), "params -> safetensors -> params")
