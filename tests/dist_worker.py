"""Run by tests/test_distributed.py under torchrun: train every objective with
the configuration that test gives, one run directory per objective."""

import json
import sys

from parsers.api import train
from strae_graph.train import TrainConfig

if __name__ == "__main__":
    root, common = sys.argv[1], json.loads(sys.argv[2])
    for objective in ("contrastive", "ce", "both"):
        train(TrainConfig(**common, objective=objective, out=f"{root}/{objective}"))
