"""A StrAE where users already work: sentence-transformers (strae-graph[st]) and
MTEB (strae-graph[mteb]); both give strae eval's Spearman on the same pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eval.data import SentencePairs, load_sts
from eval.encoders import StrAERoot
from eval.evaluate import eval_sts
from eval.metrics import cosine_rows
from parsers.api import load_embedder
from strae_graph import Embedder

SENTENCES = ["The dog barks at the postman.", "A cat sat on the mat.", "", "Hi there"]


@pytest.fixture(scope="module")
def run(balanced_run):
    return balanced_run


@pytest.fixture(scope="module")
def model(balanced_model_dir):
    return balanced_model_dir


@pytest.fixture(scope="module")
def pairs(run, data_dir) -> SentencePairs:
    """STS-B dev pairs whose cosines (strae eval's, float64) are at least 1e-5 from
    every other pair's: sentence-transformers and MTEB compute cosines in float32
    (errors up to ~2e-7), which would break ties between equal cosines (pairs of
    identical embeddings) in another order; apart from ties the ranks must agree."""
    dev = load_sts(data_dir / "sts" / "stsbenchmark" / "sts-dev.csv", name="stsb-dev")
    emb = load_embedder(run)
    n = 400
    cos = cosine_rows(
        emb.embed_sentences(dev.sentence1[:n]), emb.embed_sentences(dev.sentence2[:n])
    )
    order = np.argsort(cos)
    gaps = np.diff(cos[order])
    tied = np.zeros(n, dtype=bool)
    tied[order[1:][gaps < 1e-5]] = tied[order[:-1][gaps < 1e-5]] = True
    keep = [i for i in range(n) if not tied[i]]
    assert len(keep) >= 250, len(keep)
    return SentencePairs("stsb-dev", [dev.sentence1[i] for i in keep],
                         [dev.sentence2[i] for i in keep], dev.scores[keep])  # fmt: skip


def strae_eval_spearman(run, pairs: SentencePairs) -> float:
    """What `strae eval` computes for these pairs (eval.evaluate.eval_sts on StrAERoot)."""
    return eval_sts(StrAERoot(load_embedder(run)), pairs).score


# --- sentence-transformers -------------------------------------------------------------
def test_encode_options_work_and_equal_the_embedder(model):
    from parsers.st_module import sentence_transformer

    st = sentence_transformer(model)
    ref = Embedder.from_pretrained(model).embed_sentences(SENTENCES)
    got = st.encode(SENTENCES, batch_size=2)
    assert isinstance(got, np.ndarray) and got.shape == (4, 100)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)  # batching: float rounding only
    assert np.isnan(got[2]).all()  # no tokens: a NaN row, as everywhere in strae-graph
    unit = st.encode(SENTENCES[:2], normalize_embeddings=True, convert_to_tensor=True)
    assert isinstance(unit, torch.Tensor)
    np.testing.assert_allclose(unit.norm(dim=1).numpy(), 1.0, atol=1e-6)
    assert st.get_embedding_dimension() == 100 and st.similarity_fn_name == "cosine"


def test_save_and_load_round_trip(model, tmp_path):
    from sentence_transformers import SentenceTransformer

    from parsers.st_module import sentence_transformer

    st = sentence_transformer(model)
    st.save(str(tmp_path / "st"))
    back = SentenceTransformer(str(tmp_path / "st"), trust_remote_code=True, device="cpu")
    a, b = st.encode(SENTENCES), back.encode(SENTENCES)
    assert np.array_equal(a, b, equal_nan=True)
    # the exported directory itself is a sentence-transformers model, and the saved one
    # a model directory
    direct = SentenceTransformer(str(model), trust_remote_code=True, device="cpu")
    assert np.array_equal(direct.encode(SENTENCES), a, equal_nan=True)
    saved = Embedder.from_pretrained(tmp_path / "st").embed_sentences(SENTENCES)
    assert np.array_equal(saved, Embedder.from_pretrained(model).embed_sentences(SENTENCES),
                          equal_nan=True)  # fmt: skip


def test_similarity_evaluator_equals_strae_eval(run, model, pairs):
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    from parsers.st_module import sentence_transformer

    evaluator = EmbeddingSimilarityEvaluator(
        pairs.sentence1, pairs.sentence2, pairs.scores.tolist(), batch_size=32,
        main_similarity="cosine", name="stsb-dev", write_csv=False,
    )  # fmt: skip
    st_score = evaluator(sentence_transformer(model))["stsb-dev_spearman_cosine"]
    ours = strae_eval_spearman(run, pairs)
    assert abs(ours) > 0.01  # a real correlation, not an empty one
    print(f"pairs {len(pairs)}: sentence-transformers {st_score!r}, strae eval {ours!r}")
    assert abs(st_score - ours) < 1e-6, (st_score, ours)


# --- MTEB ---------------------------------------------------------------------------
def test_mteb_custom_sts_task_equals_strae_eval(run, model, pairs):
    import mteb

    from eval.mteb_encoder import StrAEEncoder, local_sts_task

    encoder = StrAEEncoder(str(model))
    assert isinstance(encoder, mteb.EncoderProtocol)
    assert encoder.mteb_model_meta.embed_dim == 100
    result = mteb.evaluate(encoder, local_sts_task(pairs), cache=None, show_progress_bar=False)
    scores = result.task_results[0].scores["test"][0]
    ours = strae_eval_spearman(run, pairs)
    print(f"pairs {len(pairs)}: MTEB {scores['cosine_spearman']!r}, strae eval {ours!r}")
    assert abs(scores["cosine_spearman"] - ours) < 1e-6, (scores["cosine_spearman"], ours)
    assert scores["main_score"] == scores["cosine_spearman"]
