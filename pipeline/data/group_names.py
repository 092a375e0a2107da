"""Group names that read alike but are different strings: Unicode confusables in sensitive columns.

Why: the audit compares groups by their exact strings. ``"Café"`` typed with a composed ``é``
(NFC) and with ``e`` plus a combining accent (NFD) are two groups that print identically, so a
report shows two rows named the same with split counts; a right-to-left override (U+202E) makes
a name display as other text. Neither is an error in the data the audit can fix, so it is flagged
in the data audit, where the reader of the report sees it next to the group counts.

Rule (error rates): a name is flagged when it holds a bidirectional control or an invisible
separator (a true positive by definition: none of them belongs in a category label); two names are
flagged as one pair when they differ but are equal after NFKC normalisation with format characters
removed. Zero-width joiner and non-joiner (U+200C/U+200D) are not flagged on their own: Persian,
Indic scripts and emoji use them in ordinary text, so flagging them would be a false alarm there.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

#: Bidirectional embedding, override and isolate controls, marks, and invisible separators.
FLAGGED = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u200b\u2060\ufeff")


def comparable(name: str) -> str:
    """The text a reader sees: NFKC-normalised, format (invisible) characters removed."""
    return unicodedata.normalize("NFKC", "".join(ch for ch in name if unicodedata.category(ch) != "Cf"))


def confusable(column: str, names: Iterable[str]) -> list[dict]:
    """Each flagged name of ``column`` (hidden controls) and each set of names that read the same."""
    names = sorted({str(n) for n in names})
    found = []
    for name in names:
        hidden = sorted({f"U+{ord(ch):04X}" for ch in name if ch in FLAGGED})
        if hidden:
            found.append(
                {
                    "column": column,
                    "groups": [name],
                    "reason": f"holds invisible or text-direction control character(s) {', '.join(hidden)}: "
                    f"it may display as other text; shown without them as '{comparable(name)}'",
                }
            )
    alike: dict[str, list[str]] = {}
    for name in names:
        alike.setdefault(comparable(name), []).append(name)
    for shown, members in sorted(alike.items()):
        if len(members) > 1:
            found.append(
                {
                    "column": column,
                    "groups": members,
                    "reason": f"{len(members)} groups that read as '{shown}' but are different strings (Unicode "
                    "normalisation NFC/NFD/NFKC or invisible characters): they are counted and audited "
                    "separately; normalise the column in the data to merge them",
                }
            )
    return found
