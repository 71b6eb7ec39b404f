"""What a ``tokenizer.json`` may hold to be used as a run's BPE model
(:mod:`strae_graph.data.subwords`): the pipeline strae trains, nothing else.  A
tokenizer file is data from a run directory: its normaliser, pre-tokeniser or
added tokens could otherwise rewrite every word (and a regex in them can make
the Rust library panic)."""

from __future__ import annotations

import json

from strae_graph.data.vocab import UNK


class SubwordError(ValueError):
    """A tokenizer file that is missing, damaged, or not a strae-graph BPE model."""


#: what a tokenizer.json strae writes holds besides its BPE model: nothing that changes
#: or splits words (a normaliser or regex there could map every word to one piece)
_PLAIN = {"normalizer": None, "pre_tokenizer": {"type": "WhitespaceSplit"},
          "post_processor": None, "truncation": None, "padding": None}  # fmt: skip
_PLAIN_MODEL = {"dropout": None, "end_of_word_suffix": None, "byte_fallback": False}


def check_plain(record: dict) -> None:
    """Nothing unless ``record`` (a tokenizer.json) has the pipeline strae trains
    (:func:`strae_graph.data.subwords_train._train_tokenizer`): a :class:`SubwordError` naming
    the first part that differs."""
    model = record.get("model") if isinstance(record, dict) else None
    if not isinstance(model, dict):
        raise SubwordError("not a tokenizer (no model)")
    added = [(t.get("id"), t.get("content")) if isinstance(t, dict) else t
             for t in record.get("added_tokens") or []]  # fmt: skip
    wrong = [(k, record.get(k)) for k, v in _PLAIN.items() if record.get(k) != v]
    wrong += [(f"model {k}", model.get(k)) for k, v in _PLAIN_MODEL.items() if model.get(k) != v]
    wrong += [("added_tokens", added)] if added != [(0, UNK)] else []
    if wrong:
        k, v = wrong[0]
        raise SubwordError(f"not a strae-graph tokenizer: its {k} is {json.dumps(v)[:100]}")
