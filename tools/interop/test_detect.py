"""`paramkit detect` on a PNG (JPEG decoding is the dataset importer's, tested there): every box in detections.json is drawn exactly where the JSON
says (the output image is compared pixel for pixel with the input plus those outlines, drawn here
independently), the JSON names classes and scores, and a bad image is a clear error."""
import json
import math
import struct
import subprocess
import zlib

import numpy as np
import pytest

from cases import PARAMKIT_BIN
from test_kill import CONFIG, PIPELINE

COLOURS = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128)]


def write_png(path, rgb):
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def read_png(path):
    """8-bit RGB, non-interlaced (what libpng's simplified writer produces for RGB)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, colour, interlace) == (8, 2, 0)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride = zlib.decompress(idat), w * 3
    out, prev = np.zeros((h, stride), np.int32), np.zeros(stride, np.int32)
    for y in range(h):
        f, row = raw[y * (stride + 1)], np.frombuffer(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)], np.uint8).astype(np.int32)
        cur = np.zeros(stride, np.int32)
        for x in range(stride):
            a = cur[x - 3] if x >= 3 else 0
            b, c = prev[x], prev[x - 3] if x >= 3 else 0
            pred = {0: 0, 1: a, 2: b, 3: (a + b) // 2}.get(f)
            if f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (row[x] + pred) & 255
        out[y], prev = cur, cur
    return out.reshape(h, w, 3).astype(np.uint8)


def draw(rgb, box, colour, thickness=2):
    h, w, _ = rgb.shape
    r = lambda v: int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(-v + 0.5))   # half away from zero
    x1, y1 = min(max(r(box[0]), 0), w - 1), min(max(r(box[1]), 0), h - 1)
    x2, y2 = min(max(r(box[2]), 0), w - 1), min(max(r(box[3]), 0), h - 1)
    if x2 < x1 or y2 < y1:
        return
    for t in range(thickness):
        top, bottom, left, right = y1 + t, y2 - t, x1 + t, x2 - t
        if top > bottom or left > right:
            break
        rgb[top, left:right + 1] = colour
        rgb[bottom, left:right + 1] = colour
        rgb[top:bottom + 1, left] = colour
        rgb[top:bottom + 1, right] = colour


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    if not PARAMKIT_BIN.is_file():
        pytest.fail(f"paramkit binary not found at {PARAMKIT_BIN}", pytrace=False)
    d = tmp_path_factory.mktemp("detect")
    subprocess.run([str(PARAMKIT_BIN), "dataset", "synth", "--images", "24", "--size", "64", "--classes", "2", "--seed", "1", "-o",
                    d / "train.h5"], check=True, capture_output=True)
    (d / "cfg.yaml").write_text(CONFIG)
    (d / "pipe.yaml").write_text(PIPELINE)
    subprocess.run([str(PARAMKIT_BIN), "pipeline", "run", d / "pipe.yaml", "--dir", d / "run", "--threads", "1"], check=True,
                   capture_output=True)
    return d


def test_boxes_are_drawn_where_the_json_says(model, tmp_path):
    rng = np.random.default_rng(3)
    image = np.full((72, 96, 3), (40, 60, 90), np.uint8) + rng.integers(0, 20, (72, 96, 3), dtype=np.uint8)
    image[20:50, 30:64] = (200, 40, 40)   # one object
    src = tmp_path / "scene.png"
    write_png(src, image)
    out = tmp_path / "out"
    proc = subprocess.run([str(PARAMKIT_BIN), "detect", "--model", model / "run" / "final.h5", "--config", model / "cfg.yaml",
                           "--threshold", "0.05", str(src), "-o", out], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "detections.json").read_text())
    entry = doc["images"][0]
    assert (entry["width"], entry["height"]) == (96, 72) and doc["classes"]
    dets = entry["detections"]
    assert dets, "no detection above 0.05 to check the drawing with"
    expected = image.copy()
    for d in dets:
        assert d["class"] in doc["classes"] and 0.05 < d["score"] <= 1 and len(d["box"]) == 4
        draw(expected, d["box"], COLOURS[(d["class_index"] - 1) % len(COLOURS)])
    drawn = read_png(out / "scene.png")
    assert drawn.shape == image.shape
    mismatch = np.argwhere((drawn != expected).any(axis=2))
    assert len(mismatch) == 0, f"{len(mismatch)} pixels differ from the input plus the JSON's boxes, e.g. {mismatch[:5].tolist()}"
    assert (drawn != image).any(), "nothing was drawn"


def test_a_file_that_is_not_an_image_is_a_clear_error(model, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    proc = subprocess.run([str(PARAMKIT_BIN), "detect", "--model", model / "run" / "final.h5", "--config", model / "cfg.yaml",
                           str(bad), "-o", tmp_path / "o"], capture_output=True, text=True)
    assert proc.returncode == 2 and "notes.png" in proc.stderr and "neither a JPEG nor a PNG" in proc.stderr, proc.stderr
