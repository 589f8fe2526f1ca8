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


def _xxh64_text(value):
    import xxhash
    return "xxh64:" + xxhash.xxh64(value.encode()).hexdigest()


@pytest.mark.parametrize("part", ["provenance", "metadata"])
def test_verify_notices_a_changed_provenance_or_metadata(paramkit, tmp_path, part):
    """The provenance and metadata attributes carry their own digests (xxh64 of their text, checked
    here with the xxhash package): changing either without its digest makes verify fail naming it."""
    ck = tmp_path / "ck.h5"
    paramkit("init", "--network", "tiny-vgg", "--pretrained", "none", "--classes", 4, "--seed", 0, "-o", ck)
    with h5py.File(ck, "r") as f:
        for name in ("provenance", "metadata"):
            text = f.attrs[name] if name in f.attrs else ""
            assert f.attrs[name + "_digest"] == _xxh64_text(text), name
    with h5py.File(ck, "r+") as f:
        text = f.attrs[part]
        edited = text.replace('"', "'", 1) if part == "provenance" else json.dumps({**json.loads(text), "classes": "edited"})
        del f.attrs[part]
        f.attrs[part] = edited
    out = paramkit("verify", ck, expect=1).stdout
    assert f"CHANGED {part}" in out, out
    report = json.loads(paramkit("verify", "--json", ck, expect=1).stdout)
    assert report["header_mismatched"] == [part] and report["header_checked"] is True


def test_verify_says_when_a_file_has_no_header_digests(paramkit, tmp_path):
    ck = tmp_path / "ck.h5"
    paramkit("init", "--network", "tiny-vgg", "--pretrained", "none", "--classes", 4, "--seed", 0, "-o", ck)
    with h5py.File(ck, "r+") as f:
        del f.attrs["provenance_digest"], f.attrs["metadata_digest"]
    out = paramkit("verify", ck).stdout
    assert "no provenance/metadata digests" in out, out
    assert json.loads(paramkit("verify", "--json", ck).stdout)["header_checked"] is False


def test_a_damaged_format_marker_is_not_read_as_a_plain_file(paramkit, tmp_path):
    ck = tmp_path / "ck.h5"
    paramkit("init", "--network", "tiny-vgg", "--pretrained", "none", "--classes", 4, "--seed", 0, "-o", ck)
    with h5py.File(ck, "r+") as f:
        f.attrs["paramkit_$ormat"] = f.attrs["paramkit_format"]
        del f.attrs["paramkit_format"]
    err = paramkit("verify", ck, expect=2).stderr
    assert "no paramkit_format attribute" in err, err


def test_a_tensor_without_its_digest_fails_verify(paramkit, tmp_path):
    ck = tmp_path / "ck.h5"
    paramkit("init", "--network", "tiny-vgg", "--pretrained", "none", "--classes", 4, "--seed", 0, "-o", ck)
    with h5py.File(ck, "r+") as f:
        del f["arg"]["conv1_1_bias"].attrs["digest"]
    out = paramkit("verify", ck, expect=1).stdout
    assert "CHANGED arg:conv1_1_bias: stored none" in out, out
