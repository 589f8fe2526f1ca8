"""ParamKit's checkpoint layout and --json outputs match the JSON Schemas in schemas/."""
import json

import pytest
from jsonschema import Draft202012Validator

import h5dump_json
from cases import SCHEMAS, edited_copy


def needs_schema(name):
    path = SCHEMAS / f"{name}.schema.json"
    return pytest.mark.skipif(not path.exists(), reason=f"schemas/{path.name} not present")


def validator(name):
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def assert_valid(validator, instance, what):
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    assert not errors, f"{what} does not match {validator.schema.get('$id', 'the schema')}:\n" + "\n".join(
        f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10])


def cli_json(paramkit, *args, expect):
    return json.loads(paramkit(*args, "--json", expect=expect).stdout)


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.schema.json")), ids=lambda p: p.name)
def test_schema_is_valid_draft_2020_12(path):
    Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_h5dump_json_describes_h5py_fixture(fixture_file):
    layout = h5dump_json.dump(fixture_file("tiny_vgg_rpn.h5"))
    json.dumps(layout)
    arg = layout["groups"]["arg"]["datasets"]
    assert len(arg) == 32 and layout["groups"]["aux"]["datasets"] == {}
    assert arg["conv1_1_weight"] == {"dtype": "<f4", "shape": [4, 3, 3, 3], "layout": "contiguous", "attributes": {}}


@needs_schema("checkpoint")
def test_checkpoint_schema_rejects_plain_h5py_file(fixture_file):
    assert not validator("checkpoint").is_valid(h5dump_json.dump(fixture_file("tiny_vgg_rpn.h5")))


@needs_schema("checkpoint")
@pytest.mark.parametrize("source_params", ["tiny_resnet-0000", "sample", "unusual"], indirect=True)
def test_paramkit_checkpoint_matches_schema(paramkit, source_params, tmp_path):
    schema = validator("checkpoint")
    out = tmp_path / "out.h5"
    paramkit("convert", source_params, out)
    assert_valid(schema, h5dump_json.dump(out), f"layout of {source_params.name} converted to .h5")


@needs_schema("inspect")
def test_inspect_json_matches_schema(paramkit, rpn, fixture_file):
    schema = validator("inspect")
    params, h5 = rpn()
    for path in (params, h5, fixture_file("tiny_resnet-0000.params"), fixture_file("dtypes.params")):
        assert_valid(schema, cli_json(paramkit, "inspect", path, expect=0), f"inspect {path.name}")
    assert_valid(schema, cli_json(paramkit, "inspect", h5, "--stats", expect=0), "inspect --stats")


@needs_schema("diff")
def test_diff_json_matches_schema(paramkit, rpn, fixture_file):
    schema = validator("diff")
    params, h5 = rpn()
    assert_valid(schema, cli_json(paramkit, "diff", params, h5, expect=0), "diff of equal files")
    rcnn = fixture_file("tiny_vgg_rcnn-0001.params")
    assert_valid(schema, cli_json(paramkit, "diff", params, rcnn, expect=1), "diff of rpn and rcnn")


@needs_schema("verify")
def test_verify_json_matches_schema(paramkit, rpn, tmp_path):
    schema = validator("verify")
    _, h5 = rpn()
    assert_valid(schema, cli_json(paramkit, "verify", h5, expect=0), "verify of an intact file")
    bad = edited_copy(h5, tmp_path / "bad.h5", lambda v: v + 1)
    assert_valid(schema, cli_json(paramkit, "verify", bad, expect=1), "verify of an edited file")


@needs_schema("convert")
def test_convert_json_matches_schema(paramkit, fixture_file, tmp_path):
    schema = validator("convert")
    src = fixture_file("tiny_resnet-0000.params")
    for ext in ("h5", "params", "safetensors"):
        report = cli_json(paramkit, "convert", src, tmp_path / f"out.{ext}", expect=0)
        assert_valid(schema, report, f"convert to .{ext}")


def test_every_json_output_matches_its_schema(paramkit, fixture_file, tmp_path):
    """combine, audit, freeze resolve, init, lineage, rename/cast/bbox-denorm (rewrite), train, propose,
    dataset inspect and detect --json against their schemas
    (inspect, diff, verify, convert, eval and pipeline run are checked in their own tests)."""
    import jsonschema
    from cases import SCHEMAS
    from test_kill import CONFIG, PIPELINE

    def check(name, text):
        jsonschema.validate(json.loads(text), json.loads((SCHEMAS / f"{name}.schema.json").read_text()))

    rpn, rcnn = fixture_file("tiny_vgg_rpn-0001.params"), fixture_file("tiny_vgg_rcnn-0001.params")
    check("combine", paramkit("combine", rpn, rcnn, "-o", tmp_path / "c.h5", "--json").stdout)
    check("combine", paramkit("combine", rpn, rcnn, "-o", tmp_path / "d.h5", "--json", "--dry-run").stdout)
    check("audit", paramkit("audit", rpn, rcnn, "--frozen", "FIXED_PARAMS", "--json", expect=1).stdout)
    check("audit", paramkit("audit", rpn, rpn, "--frozen", "FIXED_PARAMS_SHARED", "--json").stdout)
    check("freeze-resolve", paramkit("freeze", "resolve", "FIXED_PARAMS", "--against", rcnn, "--json").stdout)
    init = tmp_path / "init.h5"
    check("init", paramkit("init", "--network", "tiny-vgg", "--pretrained", "none", "--classes", 3, "--seed", 0, "-o", init, "--json").stdout)
    check("init", paramkit("init", "--network", "tiny-vgg", "--pretrained", rcnn, "--heads", "rpn", "-o", tmp_path / "i2.h5", "--json",
                           "--dry-run").stdout)
    check("lineage", paramkit("lineage", tmp_path / "c.h5", "--json").stdout)
    check("lineage", paramkit("lineage", tmp_path / "c.h5", "fc6_weight", "--json").stdout)
    check("rewrite", paramkit("rename", init, "--rule", "conv1_=>c1_", "-o", tmp_path / "r.h5", "--json").stdout)
    check("rewrite", paramkit("cast", init, "--dtype", "float16", "-o", tmp_path / "f.h5", "--json").stdout)
    check("rewrite", paramkit("cast", init, "--dtype", "bfloat16", "-o", tmp_path / "g.h5", "--json", "--dry-run").stdout)
    check("rewrite", paramkit("bbox-denorm", rcnn, "--means", "0,0,0,0", "--stds", "0.1,0.1,0.2,0.2", "-o", tmp_path / "b.h5",
                              "--json").stdout)
    paramkit("dataset", "synth", "--images", 24, "--size", 64, "--classes", 2, "--seed", 1, "-o", tmp_path / "train.h5")
    check("dataset-inspect", paramkit("dataset", "inspect", tmp_path / "train.h5", "--json").stdout)
    (tmp_path / "cfg.yaml").write_text(CONFIG)
    (tmp_path / "pipe.yaml").write_text(PIPELINE)
    paramkit("pipeline", "run", tmp_path / "pipe.yaml", "--dir", tmp_path / "run", "--threads", 1)
    cfg = ["--config", tmp_path / "cfg.yaml", "--threads", 1, "--json"]
    train = [tmp_path / "train.h5"]
    check("train", paramkit("train", "rpn", "--init", init, "--data", *train, "--freeze", "none", "-o", tmp_path / "rpn.h5", *cfg).stdout)
    check("train", paramkit("train", "rpn", "--init", init, "--data", *train, "--freeze", "none", "-o", tmp_path / "rpn-x.h5", *cfg,
                            "--dump-batches", tmp_path / "dump", "--max-updates", 2).stdout)
    check("propose", paramkit("propose", "--model", tmp_path / "rpn.h5", "--data", *train, "-o", tmp_path / "p.h5", *cfg).stdout)
    check("train", paramkit("train", "rcnn", "--init", init, "--proposals", tmp_path / "p.h5", "--data", *train, "-o", tmp_path / "rc.h5",
                            *cfg).stdout)
    from test_detect import write_png
    import numpy as np
    write_png(tmp_path / "x.png", np.full((64, 80, 3), 90, np.uint8))
    out = paramkit("detect", "--model", tmp_path / "run" / "final.h5", "--config", tmp_path / "cfg.yaml", "--threshold", 0.01,
                   tmp_path / "x.png", "-o", tmp_path / "det", "--json").stdout
    check("detect", out)
    check("detect", (tmp_path / "det" / "detections.json").read_text())
