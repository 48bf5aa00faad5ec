"""All 61 TA-Lib candlestick patterns as ``cdl_<name>`` columns, plus a bullish/bearish pattern score.

Each ``cdl_<name>`` column is TA-Lib's signed strength for that bar: 0 (no pattern), +-100
(pattern), +-80 (a weaker form TA-Lib 0.8 reports, e.g. an engulfing whose bodies share an
end) or +-200 (pattern confirmed, e.g. Hikkake), positive for bullish. The summary columns
are ``pattern_bull`` (sum of positive strengths / 100), ``pattern_bear`` (sum of the absolute
negative strengths / 100), ``pattern_score = pattern_bull - pattern_bear`` and ``pattern_hits``
(number of patterns firing on the bar).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import talib

PATTERN_FUNCTIONS: tuple[str, ...] = tuple(talib.get_function_groups()["Pattern Recognition"])  # type: ignore[no-untyped-call]
PATTERN_COLUMNS: tuple[str, ...] = tuple(f"cdl_{name[3:].lower()}" for name in PATTERN_FUNCTIONS)
SUMMARY_COLUMNS: tuple[str, ...] = ("pattern_bull", "pattern_bear", "pattern_score", "pattern_hits")
# Functions with a penetration parameter run with TA-Lib's defaults (0.3, or 0.5 for MatHold).
_CALLS = {name: getattr(talib, name) for name in PATTERN_FUNCTIONS}


def pattern_name(column: str) -> str:
    """The TA-Lib function behind a ``cdl_`` column.

    >>> pattern_name("cdl_engulfing")
    'CDLENGULFING'
    """
    return "CDL" + column.removeprefix("cdl_").upper()


def series_patterns(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every ``cdl_*`` column plus the summary columns for one series sorted by ts.

    Parameters
    ----------
    arrays:
        float64 ``open, high, low, close`` arrays of equal length.

    Returns
    -------
    dict
        ``cdl_*`` columns as int16 arrays (TA-Lib's values), summary columns as float64 / int32.
    """
    o, h, lo, c = (arrays[k] for k in ("open", "high", "low", "close"))
    stacked = np.empty((len(PATTERN_FUNCTIONS), c.shape[0]), dtype=np.int16)  # values are within +-200
    for row, name in enumerate(PATTERN_FUNCTIONS):
        stacked[row] = _CALLS[name](o, h, lo, c)
    out: dict[str, np.ndarray] = dict(zip(PATTERN_COLUMNS, stacked, strict=True))
    bull = np.maximum(stacked, 0).sum(axis=0, dtype=np.int32) / 100.0
    bear = np.maximum(-stacked, 0).sum(axis=0, dtype=np.int32) / 100.0
    out["pattern_bull"] = bull
    out["pattern_bear"] = bear
    out["pattern_score"] = bull - bear
    out["pattern_hits"] = np.count_nonzero(stacked, axis=0).astype(np.int32)
    return out
