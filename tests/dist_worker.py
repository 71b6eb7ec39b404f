"""Run by tests/test_distributed.py under torchrun: train every objective (or
the objectives given as a JSON list) with the configuration that test gives,
one run directory per objective."""

import json
import sys

from parsers.api import train
from strae_graph.training.config import TrainConfig

if __name__ == "__main__":
    root, common = sys.argv[1], json.loads(sys.argv[2])
    objectives = json.loads(sys.argv[3]) if len(sys.argv) > 3 else ["contrastive", "ce", "both"]
    for objective in objectives:
        train(TrainConfig(**common, objective=objective, out=f"{root}/{objective}"))
