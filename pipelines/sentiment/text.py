"""Text hygiene before scoring: strip markup and links, collapse whitespace, flag non-English text."""

from __future__ import annotations

import html
import re

_TAG = re.compile(r"<[^>]+>")
_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[a-z]+")
_LATIN = re.compile(r"[A-Za-z]")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)

# Very common English words (not names like "bitcoin", which every language uses): their share of the
# words tells English from other Latin-script text.
_ENGLISH_WORDS = frozenset({
    "the", "a", "an", "and", "or", "of", "to", "in", "on", "for", "with", "at",
    "by", "from", "as", "is", "are", "was", "were", "be", "been", "has", "have", "had",
    "it", "its", "this", "that", "these", "those", "not", "no", "but", "if", "than", "then",
    "so", "up", "down", "out", "over", "after", "before", "into", "about", "says", "said", "will",
    "would", "can", "could", "may", "might", "new", "more", "most", "price", "prices", "market", "markets",
    "stock", "stocks", "shares",
})

MAX_CHARS = 4000
"""Texts are cut to this many characters before tokenising (the tokenizer truncates to the model's limit)."""


def clean_text(text: str | None, *, max_chars: int = MAX_CHARS) -> str:
    """Strip HTML (tags, scripts, entities) and links, collapse whitespace and cut to ``max_chars``.

    Parameters
    ----------
    text:
        Raw text; ``None`` is treated as empty.
    max_chars:
        Longest result in characters.

    Returns
    -------
    str
        The cleaned text (possibly empty).

    Examples
    --------
    >>> clean_text("<p>BTC &amp; ETH <b>rally</b></p> https://t.co/x")
    'BTC & ETH rally'
    """
    if not text:
        return ""
    out = _SCRIPT.sub(" ", text)
    out = _TAG.sub(" ", out)
    out = html.unescape(out)
    out = _URL.sub(" ", out)
    out = _SPACE.sub(" ", out).strip()
    return out[:max_chars]


def detect_language(text: str) -> str:
    """A coarse language flag: ``en``, ``other`` (non-English) or ``und`` (too little text to tell).

    Non-Latin scripts count as ``other``; Latin text counts as English when enough of its words are
    common English words.

    >>> detect_language("Bitcoin price jumps after the ETF approval")
    'en'
    >>> detect_language("比特币价格大涨")
    'other'
    >>> detect_language("Le prix du bitcoin grimpe fortement aujourd'hui")
    'other'
    """
    letters = _LETTER.findall(text)
    if len(letters) < 3:
        return "und"
    latin = len(_LATIN.findall(text))
    if latin / len(letters) < 0.6:
        return "other"
    words = _WORD.findall(text.lower())
    if len(words) < 3:
        return "en" if latin == len(letters) else "und"
    hits = sum(1 for w in words if w in _ENGLISH_WORDS)
    return "en" if hits / len(words) >= 0.12 or hits >= 3 else "other"
