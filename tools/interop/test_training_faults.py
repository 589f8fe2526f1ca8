"""A diverging stage says so: a loss that explodes (not yet NaN) is reported once on stderr and in the
log, and flagged on the progress line; a NaN/Inf stops the stage naming the step and the tensor; a
stage that trains normally gets no such warning."""
import json
import subprocess

import pytest

from cases import PARAMKIT_BIN

# The small tiny-vgg config of the kill tests (its dropout: 0 does not touch the RPN trained here).
from test_kill import CONFIG  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    if not PARAMKIT_BIN.is_file():
        pytest.fail(f"paramkit binary not found at {PARAMKIT_BIN}", pytrace=False)
    d = tmp_path_factory.mktemp("faults")
    run = lambda *a: subprocess.run([str(PARAMKIT_BIN), *map(str, a)], check=True, capture_output=True)
    run("dataset", "synth", "--images", 24, "--size", 64, "--classes", 2, "--seed", 1, "-o", d / "train.h5")
    run("init", "--network", "tiny-vgg", "--pretrained", "none", "--classes", 3, "--seed", 0, "-o", d / "init.h5")
    (d / "cfg.yaml").write_text(CONFIG)
    return d


def train(d, out, lr):
    return subprocess.run([str(PARAMKIT_BIN), "train", "rpn", "--init", d / "init.h5", "--data", d / "train.h5", "--config",
                           d / "cfg.yaml", "--freeze", "none", "--threads", "1", "--set", f"lr={lr}", "-o", d / out],
                          capture_output=True, text=True, timeout=300)


def warnings(log):
    return [r["warning"] for r in map(json.loads, log.read_text().splitlines()) if "warning" in r]


def test_an_exploding_loss_is_reported(setup):
    proc = train(setup, "boom.h5", 0.2)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("the loss is exploding") == 1, proc.stderr
    assert "LOSS EXPLODING" in proc.stderr, "the progress line does not flag it"
    logged = [w for w in warnings(setup / "boom.h5.log.jsonl") if "exploding" in w]
    assert len(logged) == 1 and "step" in logged[0]


def test_a_nan_stops_the_stage_naming_step_and_tensor(setup):
    proc = train(setup, "nan.h5", 1.0)
    assert proc.returncode == 2
    assert "NaN/Inf at step" in proc.stderr and "_weight" in proc.stderr, proc.stderr
    assert not (setup / "nan.h5").exists()


def test_normal_training_gets_no_divergence_warning(setup):
    proc = train(setup, "ok.h5", 0.01)
    assert proc.returncode == 0, proc.stderr
    assert "exploding" not in proc.stderr and not any("exploding" in w for w in warnings(setup / "ok.h5.log.jsonl"))
