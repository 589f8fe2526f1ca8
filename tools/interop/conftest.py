"""Shared fixtures: the paramkit binary, the fixture files, and checkpoints built here with numpy/mxnet."""
import subprocess

import pytest

from cases import CLI_SCHEMAS, FIXTURES, PARAMKIT_BIN, SCHEMAS, sample_tensors, unusual_tensors
from formats import save_mx


class Paramkit:
    """Runs the CLI; a missing binary fails the calling test with a message saying how to build it."""

    def __call__(self, *args, expect=0):
        if not PARAMKIT_BIN.is_file():
            pytest.fail(f"paramkit binary not found at {PARAMKIT_BIN}: build it with "
                        f"`swift build -c release`, or point PARAMKIT_BIN at it", pytrace=False)
        cmd = [str(PARAMKIT_BIN), *map(str, args)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if expect is not None:
            assert proc.returncode == expect, (
                f"`{' '.join(cmd)}` exited {proc.returncode}, expected {expect}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc


@pytest.fixture(scope="session")
def paramkit():
    return Paramkit()


@pytest.fixture(scope="session")
def fixture_file():
    def find(name):
        path = FIXTURES / name
        if not path.is_file():
            pytest.fail(f"fixture {path} not found (set PARAMKIT_FIXTURES to shared/fixtures)", pytrace=False)
        return path
    return find


@pytest.fixture(scope="session")
def built_params(tmp_path_factory):
    """.params files written by mx.nd.save from tensors built here: 'sample' and 'unusual'."""
    folder = tmp_path_factory.mktemp("built")
    paths = {"sample": folder / "sample-0000.params", "unusual": folder / "unusual-0000.params"}
    save_mx(sample_tensors(), paths["sample"])
    save_mx(unusual_tensors(), paths["unusual"])
    return paths


@pytest.fixture
def sample_params(built_params):
    return built_params["sample"]


@pytest.fixture
def source_params(request, fixture_file, built_params):
    """A .params to convert, by indirect parameter: a fixture's stem, or 'sample' / 'unusual'."""
    return built_params.get(request.param) or fixture_file(request.param + ".params")


@pytest.fixture
def rpn(paramkit, fixture_file, tmp_path):
    """rpn() gives the RPN fixture as .params and as ParamKit's .h5 (converted inside the test body,
    so that a missing binary fails the test rather than erroring its set-up)."""
    def make():
        params = fixture_file("tiny_vgg_rpn-0001.params")
        paramkit("convert", params, tmp_path / "rpn.h5")
        return params, tmp_path / "rpn.h5"
    return make


def pytest_terminal_summary(terminalreporter):
    names = [f"{n}.schema.json" for n in ("checkpoint", *CLI_SCHEMAS)]
    present = [n for n in names if (SCHEMAS / n).exists()]
    missing = [n for n in names if n not in present]
    terminalreporter.write_line(f"JSON Schemas checked against output: {', '.join(present) or 'none'}"
                                + (f"; not present, their tests skipped: {', '.join(missing)}" if missing else ""))
