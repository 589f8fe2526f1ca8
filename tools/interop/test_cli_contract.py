"""The diff / verify / inspect exit codes and JSON output, on files edited behind ParamKit's back."""
import json

import numpy as np
import pytest

from cases import EDITED, edited_copy


def test_diff_same_content_across_formats(paramkit, rpn):
    paramkit("diff", *rpn(), expect=0)


def test_diff_finds_one_changed_element(paramkit, rpn, tmp_path):
    params, h5 = rpn()
    changed = edited_copy(h5, tmp_path / "changed.h5", lambda v: v + 1)
    proc = paramkit("diff", params, changed, expect=1)
    assert EDITED in proc.stdout + proc.stderr


def test_verify_detects_one_ulp_edit(paramkit, rpn, tmp_path):
    _, h5 = rpn()
    paramkit("verify", h5, expect=0)
    changed = edited_copy(h5, tmp_path / "ulp.h5", lambda v: np.nextafter(v, np.float32(np.inf)))
    proc = paramkit("verify", changed, expect=1)
    assert EDITED in proc.stdout + proc.stderr


@pytest.mark.parametrize("verb", ["diff", "verify", "inspect"])
def test_missing_file_is_an_error(paramkit, fixture_file, tmp_path, verb):
    missing = tmp_path / "missing.params"
    args = [fixture_file("tiny_vgg_rpn-0001.params"), missing] if verb == "diff" else [missing]
    proc = paramkit(verb, *args, expect=2)
    assert "missing.params" in proc.stderr


def test_inspect_json_parses(paramkit, rpn, tmp_path):
    params, h5 = rpn()
    st = tmp_path / "rpn.safetensors"
    paramkit("convert", params, st)
    for path in (params, h5, st):
        assert isinstance(json.loads(paramkit("inspect", path, "--json").stdout), dict), path
