"""The output folder of ``strae parse`` (:mod:`parsers.parsed_corpus`): what may
be replaced.  A dataset folder holds what ``datasets``' ``save_to_disk`` writes
and ``strae_parse.json``; ``OUT.partial/`` the unfinished work.  Nothing else in
them is ever deleted: a folder holding other files is refused before any work."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from strae_graph.data.parsed import META_FILE
from strae_graph.util.fileio import OutputError, check_not_cwd, check_output_dir

#: what ``datasets``' ``save_to_disk`` writes into a dataset folder, and our record
DATASET_FILES = re.compile(r"(data-\d+-of-\d+\.arrow|dataset_info\.json|state\.json|"
                           + re.escape(META_FILE) + ")")  # fmt: skip
#: what OUT.partial/ holds: the fingerprint, the shards, a killed write's hidden folder
PARTIAL_FILES = re.compile(r"fingerprint|shard_\d+|\.shard_\d+\..*\.tmp")


def only(folder: Path, names: re.Pattern[str]) -> bool:
    """Whether every entry of ``folder`` is named as ``names`` says."""
    return all(names.fullmatch(n) for n in os.listdir(folder))


def check_replaceable(out: Path) -> None:
    """Before any work on a new dataset at ``out`` (new, empty, or one of ours,
    checked by :func:`strae_graph.util.fileio.check_output_dir`): refuse the current
    directory, a dataset folder holding files we did not write (replacing it
    would delete them), and an ``OUT.partial`` that is not ours."""
    if out.is_dir():
        check_not_cwd(out)
        extra = sorted(n for n in os.listdir(out) if not DATASET_FILES.fullmatch(n))
        if extra:
            raise OutputError(
                f"{out}: holds files strae parse did not write ({', '.join(extra[:3])}); "
                "replacing the dataset would delete them: move them away or choose another --out"
            )
    partial = Path(str(out) + ".partial")
    check_output_dir(partial, lambda p: only(p, PARTIAL_FILES),
                     "unfinished work of `strae parse`", option="--out (+ .partial)")  # fmt: skip


def describe(meta: dict[str, Any]) -> str:
    """A dataset's structure, options and input, in a few words."""
    seed = f", seed {meta['seed']}" if meta.get("seed") is not None else ""
    options = meta.get("options") or {}
    return (f"structure {meta.get('structure')}{seed}, options {options}, input "
            f"{meta.get('input', '?')}, max_sentences {meta.get('max_sentences')}")  # fmt: skip
