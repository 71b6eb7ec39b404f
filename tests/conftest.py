import os
import random
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# parser trees are cached (parsers.tree_cache): keep the tests' cache out of ~/.cache
os.environ.setdefault("STRAE_CACHE", tempfile.mkdtemp(prefix="strae-test-cache-"))

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("STRAE_DATA", ROOT.parent / "shared" / "data"))
CORPUS = DATA / "corpus" / "wiki_en_10M_sentences.txt.gz"
PTB = DATA / "trees" / "ptb_sample_combined.mrg.oneline.txt.gz"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.exists():
        pytest.fail(f"shared data not found at {DATA} (tests read ../shared/data)")
    return DATA


@pytest.fixture(scope="session")
def tiny_benepar(tmp_path_factory, data_dir):
    """(model path, train_benepar's report) of one tiny benepar model, trained once."""
    from parsers.benepar_train import train_benepar
    from tests.tiny_runs import tiny_benepar_config

    out = tmp_path_factory.mktemp("benepar") / "tiny.pt"
    return out, train_benepar(tiny_benepar_config(out), log=lambda s: None)


@pytest.fixture(scope="session")
def balanced_run(tmp_path_factory, data_dir):
    """A tiny balanced run (tests.tiny_runs.tiny_run); never written to by tests."""
    from tests.tiny_runs import tiny_run

    return tiny_run(tmp_path_factory.mktemp("balanced") / "run", structure="balanced")


@pytest.fixture(scope="session")
def balanced_model_dir(balanced_run, tmp_path_factory):
    """``balanced_run`` exported as a model directory (strae export --format model)."""
    from strae_graph.cli import main

    out = tmp_path_factory.mktemp("balanced-model") / "tiny"
    assert main(["export", str(balanced_run), "--format", "model", "--out", str(out)]) == 0
    return out


def random_tree_shapes(rng: random.Random, n_trees: int, max_len: int = 30):
    """Trees of varied shapes and sizes: every heuristic and random bracketings."""
    from parsers.heuristics import HEURISTICS, random_tree

    trees = []
    for i in range(n_trees):
        n = rng.choice([1, 2, 3, rng.randint(4, max_len)])
        tokens = [f"w{rng.randrange(20)}" for _ in range(n)]
        kind = rng.choice(["balanced", "right", "left", "random", "random"])
        trees.append(random_tree(tokens, rng) if kind == "random" else HEURISTICS[kind](tokens))
        del i
    return trees
