"""'Did you mean' hints for typos."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def nearest(word: str, choices: Iterable[str], list_all: bool = True) -> str:
    """'; did you mean X?', else a list of valid choices ('' when not `list_all`: too many)."""
    options = sorted(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; valid: {', '.join(options)}" if list_all else ""
