"""h5py reads ParamKit's native checkpoints (layout, types, digests), and ParamKit reads h5py-written ones."""
import json

import h5py
import numpy as np
import pytest

from cases import CHECKPOINT_FIXTURES, sample_tensors, unusual_tensors
from formats import (Tensor, assert_same, escape_name, h5_datasets, load_h5, load_mx, root_digest,
                     split_key, tensor_digest)

# How each dtype is stored, as h5py reports it (bfloat16 as its uint16 bits, bool as HDF5 enum -> numpy bool).
H5_STORAGE = {"float32": "<f4", "float64": "<f8", "float16": "<f2", "bfloat16": "<u2", "int8": "|i1",
              "uint8": "|u1", "int32": "<i4", "int64": "<i8", "bool": "|b1"}


def is_vlen_utf8(attrs, key):
    info = h5py.check_string_dtype(attrs.get_id(key).dtype)
    return info is not None and info.length is None and info.encoding == "utf-8"


@pytest.mark.parametrize("source_params", CHECKPOINT_FIXTURES + ["sample", "unusual"], indirect=True)
def test_h5py_reads_paramkit_checkpoint(paramkit, source_params, tmp_path):
    out = tmp_path / "out.h5"
    paramkit("convert", source_params, out)

    with h5py.File(out, "r") as f:
        assert f.attrs["paramkit_format"] == "paramkit.checkpoint"
        assert is_vlen_utf8(f.attrs, "paramkit_format")
        assert f.attrs["format_version"] == 1
        assert f.attrs.get_id("format_version").dtype == np.int64
        assert set(f) == {"arg", "aux"}
        assert isinstance(json.loads(f.attrs["provenance"]), dict)
        stored_root = f.attrs["digest"]

    tensors, entries = {}, []
    for role, link, name, ds in h5_datasets(out):
        where = f"/{role}/{link}"
        digest, dtype = ds.attrs["digest"], ds.attrs["dtype"]
        assert isinstance(digest, str) and isinstance(dtype, str), f"{where}: digest/dtype attrs must be strings"
        assert ds.dtype.str == H5_STORAGE[dtype], f"{where}: dtype {dtype} stored as {ds.dtype.str}"
        assert ds.id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS, f"{where}: not contiguous"
        t = Tensor(dtype, np.asarray(ds[()]))
        assert digest == tensor_digest(t), f"{where}: stored digest differs from the recomputed one"
        tensors[f"{role}:{name}"] = t
        entries.append((role, name, dtype, t.array.shape, digest))

    assert_same(tensors, load_mx(source_params), "h5 vs source")
    assert stored_root == root_digest(entries)


def test_unusual_names_are_escaped_reversibly(paramkit, built_params, tmp_path):
    h5, back = tmp_path / "unusual.h5", tmp_path / "back.params"
    paramkit("convert", built_params["unusual"], h5)

    for _, link, name, ds in h5_datasets(h5):
        assert link == escape_name(name), f"{name!r} stored as {link!r}"
        if link != name:
            assert "name" in ds.attrs, f"escaped {link!r} lacks the name attribute"
    assert_same(load_h5(h5), unusual_tensors(), "h5")

    paramkit("convert", h5, back)
    assert_same(load_mx(back), unusual_tensors(), "h5 -> params")


def test_paramkit_reads_h5py_written_checkpoint(paramkit, tmp_path):
    tensors = {k: t for k, t in sample_tensors().items() if t.dtype != "bfloat16"}  # h5py has no bfloat16
    src, out = tmp_path / "h5py.h5", tmp_path / "out.params"
    with h5py.File(src, "w") as f:
        for key, t in tensors.items():
            role, name = split_key(key)
            f.create_dataset(f"{role}/{name}", data=t.array)
    paramkit("convert", src, out)
    assert_same(load_mx(out), tensors, "h5py-written -> params")


def test_paramkit_reads_h5py_fixture(paramkit, fixture_file, tmp_path):
    out = tmp_path / "out.params"
    paramkit("convert", fixture_file("tiny_vgg_rpn.h5"), out)
    assert_same(load_mx(out), load_mx(fixture_file("tiny_vgg_rpn-0001.params")), "tiny_vgg_rpn.h5 -> params")
