"""An interrupted write leaves no half file: the destination is either absent or complete, and no
temporary file stays behind."""
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from cases import PARAMKIT_BIN
import mxnet as mx


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.4])
def test_sigint_during_convert_leaves_no_half_file(tmp_path, delay):
    if not PARAMKIT_BIN.is_file():
        pytest.fail(f"paramkit binary not found at {PARAMKIT_BIN}", pytrace=False)
    source = tmp_path / "big-0000.params"
    rng = np.random.RandomState(0)
    mx.nd.save(str(source), {f"arg:w{i}": mx.nd.array(rng.standard_normal((2048, 4096)).astype(np.float32))
                             for i in range(8)})  # 268 MB
    out = tmp_path / "out.h5"
    proc = subprocess.Popen([str(PARAMKIT_BIN), "convert", str(source), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    leftovers = [p.name for p in tmp_path.iterdir() if "paramkit-tmp" in p.name]
    assert leftovers == [], f"temporary files left: {leftovers}"
    # 130: the handler removed the temporary file; 0: the write finished first; -SIGINT: the signal
    # came before the program had installed its handler, so before it wrote anything.
    assert proc.returncode in (0, 130, -signal.SIGINT), err
    if out.exists():
        # The write finished before the signal took effect: then the file must be whole.
        check = subprocess.run([str(PARAMKIT_BIN), "verify", str(out)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    else:
        assert proc.returncode in (130, -signal.SIGINT), "no output although convert succeeded"
