"""Dump an HDF5 file's layout (groups, datasets, attributes; no element data) as JSON for schema checks."""
import json
import sys

import h5py
import numpy as np

JSON_TEXT_ATTRS = ("provenance", "metadata")  # root attributes that hold JSON text
LAYOUTS = {h5py.h5d.CONTIGUOUS: "contiguous", h5py.h5d.CHUNKED: "chunked", h5py.h5d.COMPACT: "compact"}


def plain(value):
    """An attribute value as JSON data: bytes decoded, numpy scalars and arrays as Python values."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def attributes(obj, json_text=()):
    out = {}
    for key, value in obj.attrs.items():
        value = plain(value)
        if key in json_text and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass  # left as text, so a schema expecting an object reports it
        out[key] = value
    return out


def dataset(ds):
    return {"dtype": ds.dtype.str, "shape": list(ds.shape),
            "layout": LAYOUTS.get(ds.id.get_create_plist().get_layout(), "other"),
            "attributes": attributes(ds)}


def group(g, json_text=()):
    node = {"attributes": attributes(g, json_text), "groups": {}, "datasets": {}}
    for name, child in g.items():
        if isinstance(child, h5py.Group):
            node["groups"][name] = group(child)
        elif isinstance(child, h5py.Dataset):
            node["datasets"][name] = dataset(child)
    return node


def dump(path):
    """{"attributes", "groups": {name: {...}}, "datasets": {name: {"dtype", "shape", "layout", "attributes"}}}."""
    with h5py.File(path, "r") as f:
        return group(f, JSON_TEXT_ATTRS)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: h5dump_json.py FILE.h5")
    json.dump(dump(sys.argv[1]), sys.stdout, indent=1)
    print()
