"""Measure whether a resumed run is bit-for-bit the uninterrupted one.

    OMP_NUM_THREADS=2 python scripts/measure_resume.py 2

Trains the small run of tests/test_interrupt.py to the end, starts it again,
SIGKILLs it after 47 of 80 steps (checkpoints every 5), resumes it, and compares
the final models and metrics files.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, os.getcwd())
import tests.test_interrupt as ti  # noqa: E402
from strae_graph.training.checkpoint import load_checkpoint  # noqa: E402

threads = sys.argv[1] if len(sys.argv) > 1 else "1"
base = Path(sys.argv[2] if len(sys.argv) > 2 else f"/tmp/strae_measure_resume_{threads}")
subprocess.run(["rm", "-rf", str(base)], check=True)
env = {**os.environ, "OMP_NUM_THREADS": threads}
ref, run = base / "ref", base / "run"
subprocess.run(ti.command(ref), env=env, capture_output=True, check=True)
p = subprocess.Popen(ti.command(run), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while ti.steps_logged(run) < 47:
    time.sleep(0.005)
at = ti.steps_logged(run)
p.send_signal(signal.SIGKILL)
p.wait()
step = load_checkpoint(run / "last.pt")["step"]
subprocess.run(ti.command(run, "--resume"), env=env, capture_output=True, check=True)
a, b = load_checkpoint(ref / "last.pt"), load_checkpoint(run / "last.pt")
diff = max((a["model"][k] - b["model"][k]).abs().max().item() for k in a["model"])
same = all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
same_metrics = (ref / "metrics.jsonl").read_bytes() == (run / "metrics.jsonl").read_bytes()
print(
    f"threads={threads} killed at step {at}, checkpoint step {step}; resumed final model "
    f"bit-identical: {same} (max abs diff {diff}); metrics identical: {same_metrics}"
)
