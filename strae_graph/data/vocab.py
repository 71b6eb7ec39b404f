"""Vocabulary: token strings <-> ids, with an explicit unknown entry."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

UNK = "<unk>"


@dataclass
class Vocabulary:
    """Id 0 is the unknown token; ids 1.. are real words, most frequent first.

    ``encode`` maps unseen words to id 0 and ``is_known`` tells them apart, so
    an unknown word is never mistaken for a real one.
    """

    itos: list[str]
    stoi: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.itos, list) or not all(isinstance(w, str) for w in self.itos):
            raise ValueError("a vocabulary is a list of strings")
        if not self.itos or self.itos[0] != UNK:
            raise ValueError(f"a vocabulary starts with {UNK!r}")
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary has duplicate entries")

    @classmethod
    def build(
        cls, sentences: Iterable[Sequence[str]], min_count: int = 5, max_size: int | None = None
    ) -> Vocabulary:
        """Words seen at least ``min_count`` times, at most ``max_size`` of them
        (including the unknown entry); ties broken alphabetically."""
        counts: Counter[str] = Counter()
        for s in sentences:
            counts.update(s)
        return cls.from_counts(counts, min_count, max_size)

    @classmethod
    def from_counts(
        cls, counts: Mapping[str, int], min_count: int = 5, max_size: int | None = None
    ) -> Vocabulary:
        """:meth:`build` from token counts already made (e.g. in one pass over a
        streamed corpus, :mod:`strae_graph.data.stream`); an ``<unk>`` count is ignored."""
        words = sorted(
            (w for w, c in counts.items() if c >= min_count and w != UNK),
            key=lambda w: (-counts[w], w),
        )
        if max_size is not None:
            words = words[: max(0, max_size - 1)]
        return cls([UNK, *words])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi and word != UNK

    def encode(self, tokens: Sequence[str]) -> list[int]:
        get = self.stoi.get
        return [get(t, 0) for t in tokens]

    def count_unknown(self, sentences: Iterable[Sequence[str]]) -> tuple[int, int]:
        """``(unknown, total)`` token counts of ``sentences`` (unknown: mapped to id 0)."""
        stoi = self.stoi
        unknown = total = 0
        for s in sentences:
            total += len(s)
            unknown += sum(1 for t in s if t not in stoi or t == UNK)
        return unknown, total

    def to_json(self) -> str:
        return json.dumps(self.itos, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        """The vocabulary :meth:`to_json` wrote; ValueError when ``text`` is not one."""
        return cls(json.loads(text))  # json.JSONDecodeError is a ValueError
