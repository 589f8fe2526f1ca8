"""Read checkpoints of every format into one comparable form, and recompute ParamKit's digests."""
import json
import struct
from typing import NamedTuple

import h5py
import mxnet as mx
import numpy as np
import safetensors.numpy
import xxhash

MX_BFLOAT16 = np.dtype([("bfloat16", "<u2")])  # what mxnet 1.9.1 hands out for bfloat16
ROLES = ("arg", "aux")


class Tensor(NamedTuple):
    """A tensor as ParamKit names its dtype; bfloat16 arrays hold the uint16 bit patterns."""
    dtype: str
    array: np.ndarray


def raw_bytes(array):
    """Little-endian C-order element bytes (bool as 0/1, float16/bfloat16 as their bits)."""
    a = np.ascontiguousarray(array)
    return a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()


def split_key(key):
    """'arg:conv1_weight' -> ('arg', 'conv1_weight')."""
    role, _, name = key.partition(":")
    assert role in ROLES and _, f"key {key!r} has no arg:/aux: prefix"
    return role, name


# --- readers: each returns {key: Tensor}, keys 'arg:NAME' / 'aux:NAME' (MXNet's and safetensors' form) ---

def from_mx(nd):
    a = nd.asnumpy()
    if a.dtype == MX_BFLOAT16:
        return Tensor("bfloat16", a.view("<u2"))
    return Tensor(a.dtype.name, a)


def load_mx(path):
    """mx.nd.load, keeping the file's key order."""
    return {k: from_mx(v) for k, v in mx.nd.load(str(path)).items()}


def save_mx(tensors, path):
    """mx.nd.save a {key: Tensor} dict (bfloat16 goes through float32, which holds it exactly)."""
    arrays = {}
    for key, t in tensors.items():
        if t.dtype == "bfloat16":
            f32 = (t.array.astype(np.uint32) << 16).view(np.float32)
            arrays[key] = mx.nd.array(f32, dtype=np.float32).astype(MX_BFLOAT16)
        else:
            arrays[key] = mx.nd.array(t.array, dtype=t.array.dtype)
    mx.nd.save(str(path), arrays)


def attr_str(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def h5_datasets(path):
    """Yield (role, link name, original name, h5py dataset) for /arg and /aux, inside an open file."""
    with h5py.File(path, "r") as f:
        for role in ROLES:
            for link, ds in f.get(role, {}).items():
                yield role, link, attr_str(ds.attrs.get("name", link)), ds


def load_h5(path):
    out = {}
    for role, _, name, ds in h5_datasets(path):
        dtype = attr_str(ds.attrs["dtype"]) if "dtype" in ds.attrs else ds.dtype.name
        out[f"{role}:{name}"] = Tensor(dtype, np.asarray(ds[()]))
    return out


def load_safetensors(path):
    return {k: Tensor(a.dtype.name, a) for k, a in safetensors.numpy.load_file(str(path)).items()}


def safetensors_header(path):
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(size))


def assert_same(actual, expected, what="", ordered=False):
    """Same keys, and per key the same dtype, shape and bytes."""
    if ordered:
        assert list(actual) == list(expected), f"{what}: key order differs"
    assert sorted(actual) == sorted(expected), (
        f"{what}: only in actual {sorted(set(actual) - set(expected))}, "
        f"only in expected {sorted(set(expected) - set(actual))}")
    for key, e in expected.items():
        a = actual[key]
        assert a.dtype == e.dtype, f"{what} {key}: dtype {a.dtype} != {e.dtype}"
        assert a.array.shape == e.array.shape, f"{what} {key}: shape {a.array.shape} != {e.array.shape}"
        assert raw_bytes(a.array) == raw_bytes(e.array), f"{what} {key}: values differ"


# --- digests (see the native checkpoint layout in schemas/checkpoint.schema.json) ---

def shape_csv(shape):
    return ",".join(map(str, shape))


def xxh64_hex(data):
    return "xxh64:" + format(xxhash.xxh64(data, seed=0).intdigest(), "016x")


def tensor_digest(t):
    return xxh64_hex(f"{t.dtype}:{shape_csv(t.array.shape)}:".encode() + raw_bytes(t.array))


def root_digest(entries):
    """entries: (role, name, dtype, shape, tensor digest) for every tensor."""
    lines = sorted(entries, key=lambda e: (e[0].encode(), e[1].encode()))
    text = "".join(f"{r}\t{n}\t{d}\t{shape_csv(s)}\t{g}\n" for r, n, d, s, g in lines)
    return xxh64_hex(text.encode())


def escape_name(name):
    """The HDF5 link name of a tensor name: '%' and '/' percent-encoded, '' as '%', '.' as '%2E',
    and a space in first or last place as %20, so that the link never starts or ends with a space."""
    if name in ("", "."):
        return {"": "%", ".": "%2E"}[name]
    chars = ["%25" if c == "%" else "%2F" if c == "/" else c for c in name]
    for i in {0, len(chars) - 1}:
        if chars[i] == " ":
            chars[i] = "%20"
    return "".join(chars)
