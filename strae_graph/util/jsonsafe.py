"""Standard JSON out of results that may hold NaN or infinity.

Python's ``json`` writes ``NaN`` / ``Infinity``, which standard JSON readers
(JavaScript, jq, most other languages) reject.  :func:`json_safe` replaces
every non-finite float by ``null`` and says why in a ``"null_because"`` entry
(dotted path -> reason) of the top-level object; :func:`dumps` then writes
strict JSON (``allow_nan=False``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

#: the top-level key listing the values written as null, and why
NULL_KEY = "null_because"


def _default_reason(path: str, value: float) -> str:
    return f"{value} (not a finite number)"


def json_safe(obj: Any, why: Callable[[str, float], str | None] | None = None) -> Any:
    """``obj`` (dicts, lists, tuples, scalars) with every NaN/inf float as None.

    ``why(path, value)`` gives the reason recorded for each replaced value
    (None: the default, ``"nan (not a finite number)"``); the reasons go to
    ``obj[NULL_KEY]`` when ``obj`` is a dict (merged with one already there).
    """
    reasons: dict[str, str] = {}

    def clean(x: Any, path: str) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            reasons[path] = (why and why(path, x)) or _default_reason(path, x)
            return None
        if isinstance(x, dict):
            return {k: clean(v, f"{path}.{k}" if path else str(k)) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v, f"{path}[{i}]") for i, v in enumerate(x)]
        return x

    out = clean(obj, "")
    if reasons and isinstance(out, dict):
        out[NULL_KEY] = {**(out.get(NULL_KEY) or {}), **reasons}
    return out


def dumps(obj: Any, why: Callable[[str, float], str | None] | None = None, **kw: Any) -> str:
    """Strict JSON of :func:`json_safe` (``obj``, ``why``)."""
    return json.dumps(json_safe(obj, why), allow_nan=False, **kw)
