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
    for path in sorted((REPO / "examples").glob("synth-*.yaml")):
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, f"{path.name}: " + "; ".join(e.message for e in errors)
