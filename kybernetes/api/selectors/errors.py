"""The one error every selector failure raises, worded as the apiserver's 400."""

from __future__ import annotations

__all__ = ["SelectorError"]


class SelectorError(ValueError):
    """A selector that does not parse or validate; the message is the apiserver's."""
