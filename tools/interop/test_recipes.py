"""Recipes: every example validates against schemas/recipe.schema.json, and paramkit runs each one."""
import json
import pathlib

import jsonschema
import pytest
import yaml

from cases import FIXTURES

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("combine-*.yaml"))


def recipe_validator():
    schema = json.loads((REPO / "schemas" / "recipe.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_recipe_matches_schema(path):
    errors = list(recipe_validator().iter_errors(yaml.safe_load(path.read_text())))
    assert not errors, "\n".join(e.message for e in errors)


def test_schema_rejects_a_rule_with_two_kinds():
    bad = {"inputs": ["a"], "rules": [{"take": {"from": "a"}, "drop": {"prefix": "x"}}]}
    assert list(recipe_validator().iter_errors(bad))


@pytest.mark.parametrize("path", [p for p in EXAMPLES if "rpn2" in p.name], ids=lambda p: p.name)
def test_alternate_training_recipes_reproduce_combine_model(paramkit, path, tmp_path):
    out = tmp_path / "out.params"
    paramkit("combine", "--recipe", path, FIXTURES / "tiny_vgg_rpn-0001.params",
             FIXTURES / "tiny_vgg_rcnn-0001.params", "-o", out)
    assert out.read_bytes() == (FIXTURES / "combined_expected-0000.params").read_bytes()


def test_stage_config_examples_match_schema():
    schema = json.loads((REPO / "schemas" / "stage-config.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    configs = sorted((REPO / "examples").glob("synth-*.yaml")) + [REPO / "examples" / "reference.yaml"]
    for path in configs:
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, f"{path.name}: " + "; ".join(e.message for e in errors)


def test_reference_example_is_the_reference_config():
    """examples/reference.yaml writes out the defaults: loading it changes nothing (every value is the
    built-in reference default), and alternate-reference.yaml plans the reference's stages."""
    example = REPO / "examples" / "alternate-reference.yaml"
    stages = yaml.safe_load(example.read_text())["stages"]
    assert [s["run"] for s in stages] == ["init", "train-rpn", "propose", "train-rcnn", "train-rpn", "propose",
                                          "combine", "train-rcnn", "combine", "eval"]
    rcnn1 = next(s for s in stages if s["name"] == "rcnn1")
    assert rcnn1["init"] == "init" and rcnn1["freeze"] == "FIXED_PARAMS", "stage 2 starts from ImageNet, conv1/conv2 frozen"
    schema = json.loads((REPO / "schemas" / "pipeline.schema.json").read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(example.read_text())))
    assert not errors, "; ".join(e.message for e in errors)
    config = yaml.safe_load((REPO / "examples" / "reference.yaml").read_text())
    defaults = {k: v.get("default") for k, v in json.loads((REPO / "schemas" / "stage-config.schema.json").read_text())["properties"].items()}
    differ = {k: (v, defaults.get(k)) for k, v in config.items() if k != "network" and v != defaults.get(k)}
    assert not differ, f"reference.yaml departs from the schema's (reference) defaults: {differ}"
