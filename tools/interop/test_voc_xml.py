"""ParamKit's annotation XML reader against Python's expat, on damaged VOC annotations.

From one VOC annotation (declaration, comment, attributes, an entity, two objects with a part), the
test makes 400 damaged copies — a byte deleted, replaced or inserted (markup characters and
printable ASCII), a slice duplicated or dropped, a truncation — and has `paramkit dataset import-voc
--classes auto` read each. ParamKit must call the file "not well-formed XML" exactly when expat
(`xml.parsers.expat`, the parser of CPython's standard library) rejects it, and must never crash:
every run ends with exit 2 (no JPEG is there, so even a well-formed file stops at the image)."""
import random
import subprocess
import xml.parsers.expat

from cases import PARAMKIT_BIN

BASE = b"""<?xml version="1.0" encoding="utf-8"?>
<!-- a VOC annotation -->
<annotation verified="yes">
\t<folder>VOC2007</folder>
\t<filename>000005.jpg</filename>
\t<source><database>The VOC2007 Database &amp; more</database></source>
\t<size><width>500</width><height>375</height><depth>3</depth></size>
\t<object>
\t\t<name>chair</name><pose>Rear</pose><truncated>0</truncated><difficult>0</difficult>
\t\t<bndbox><xmin>263</xmin><ymin>211</ymin><xmax>324</xmax><ymax>339</ymax></bndbox>
\t</object>
\t<object>
\t\t<name>person</name><difficult>1</difficult>
\t\t<part><name>head</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></part>
\t\t<bndbox><xmin>5</xmin><ymin>6</ymin><xmax>70</xmax><ymax>80</ymax></bndbox>
\t</object>
</annotation>
"""
COPIES = 400
MARKUP = b"<>&/\"'=;!?[]-# \n\t"


def damaged(rng):
    b = bytearray(BASE)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        k = rng.randrange(len(b))
        op = rng.choice(["delete", "replace", "insert", "duplicate", "drop", "truncate"])
        byte = rng.choice(MARKUP) if rng.random() < 0.7 else rng.randrange(0x20, 0x7F)
        if op == "delete":
            del b[k]
        elif op == "replace":
            b[k] = byte
        elif op == "insert":
            b.insert(k, byte)
        elif op == "duplicate":
            n = rng.randrange(1, 40)
            b[k:k] = b[k:k + n]
        elif op == "drop":
            del b[k:k + rng.randrange(1, 40)]
        else:
            del b[k:]
    return bytes(b)


def expat_accepts(data):
    p = xml.parsers.expat.ParserCreate()
    try:
        p.Parse(data, True)
        return True
    except (xml.parsers.expat.ExpatError, LookupError):  # LookupError: an encoding Python does not know
        return False


def test_paramkit_rejects_exactly_what_expat_rejects(tmp_path):
    root = tmp_path / "voc"
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets/Main").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    (root / "ImageSets/Main/trainval.txt").write_text("000005\n")
    rng = random.Random("voc-xml")
    cases = [BASE] + [damaged(rng) for _ in range(COPIES)]
    disagreements, rejected = [], 0
    for i, data in enumerate(cases):
        (root / "Annotations/000005.xml").write_bytes(data)
        r = subprocess.run([str(PARAMKIT_BIN), "dataset", "import-voc", str(root), "--classes", "auto",
                            "-o", str(tmp_path / "out.h5")], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, f"case {i}: exit {r.returncode}: {r.stderr[-400:]}\n{data!r}"
        assert r.stderr.startswith("paramkit: error: ") and r.stderr.count("\n") == 1, f"case {i}: {r.stderr!r}"
        ours = "not well-formed XML" not in r.stderr
        rejected += not ours
        if ours != expat_accepts(data):
            disagreements.append((i, "expat " + ("accepts" if not ours else "rejects"), r.stderr.strip(), data))
    print(f"\n{len(cases)} annotations: {rejected} rejected as not well-formed, {len(disagreements)} disagreements")
    assert expat_accepts(BASE) and rejected > COPIES // 4
    assert not disagreements, "\n".join(f"case {i}: {who}; paramkit: {msg}\n{data!r}" for i, who, msg, data in disagreements[:5])
