"""MXNet 1.9.1 loads the .params files ParamKit writes, with the same keys and identical arrays."""
import pytest

from cases import DENSE_FIXTURES, sample_tensors
from formats import assert_same, load_mx


@pytest.mark.parametrize("name", DENSE_FIXTURES)
def test_mxnet_loads_converted_fixture(paramkit, fixture_file, tmp_path, name):
    src = fixture_file(name + ".params")
    out = tmp_path / "out.params"
    paramkit("convert", src, out)
    assert_same(load_mx(out), load_mx(src), name, ordered=True)


def test_mxnet_loads_numpy_arrays_after_h5_round_trip(paramkit, sample_params, tmp_path):
    assert_same(load_mx(sample_params), sample_tensors(), "mx.nd.save itself")
    h5, back = tmp_path / "sample.h5", tmp_path / "back.params"
    paramkit("convert", sample_params, h5)
    paramkit("convert", h5, back)
    assert_same(load_mx(back), load_mx(sample_params), "params -> h5 -> params")


def test_params_round_trip_is_byte_exact(paramkit, fixture_file, tmp_path):
    src = fixture_file("combined_expected-0000.params")
    out = tmp_path / "out.params"
    paramkit("convert", src, out)
    assert out.read_bytes() == src.read_bytes()
