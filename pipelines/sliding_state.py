"""Sliding-window real-time indicator state: O(1) work per symbol per closed candle, vectorised across symbols.

One :class:`StreamingFeatures` holds the state of many series (one slot per key, e.g.
``binance|BTC/USDT`` of one timeframe) in NumPy arrays. :meth:`StreamingFeatures.update` takes
one closed candle for each of a set of series and returns their indicator values, using only the
stored state (running EMAs and Wilder averages, running sums, and fixed-size rings of the last
bars), never the history. The recursions and their seeding follow TA-Lib's code, so values equal
the batch columns of :mod:`pipelines.indicators` and :mod:`pipelines.anomalies` to rounding.
:meth:`StreamingFeatures.snapshot` / :meth:`StreamingFeatures.restore` round-trip the state
through plain JSON-able data, so an actor can persist it and rebuild after a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pipelines.anomalies import MAD_TO_SIGMA, AnomalyConfig
from pipelines.indicators import SESSION_MS, IndicatorConfig

TA_ZERO = 1e-8  # TA-Lib's TA_IS_ZERO threshold
STATE_VERSION = 1


def _median_rows(x: np.ndarray) -> np.ndarray:
    """Row medians of a NaN-free 2-D array, bit-identical to ``np.median(x, axis=1)``.

    >>> _median_rows(np.array([[3.0, 1.0, 2.0, 10.0], [1.0, 1.0, 5.0, 0.0]])).tolist()
    [2.5, 1.0]
    """
    n = x.shape[1]
    half = n // 2
    if n % 2:
        return np.partition(x, half, axis=1)[:, half]
    part = np.partition(x, (half - 1, half), axis=1)
    return (part[:, half - 1] + part[:, half]) / 2.0


class StreamingFeatures:
    """Incremental EMA, RSI, MACD, Bollinger, ATR, VWAP/TWAP and anomaly scores for many series.

    Parameters
    ----------
    indicators:
        Periods (the same config as the batch pipeline; families are not filtered here).
    anomaly:
        Window of the robust z-scores and the volume spike ratio.
    """

    def __init__(self, indicators: IndicatorConfig | None = None, anomaly: AnomalyConfig | None = None) -> None:
        self.indicators = indicators or IndicatorConfig()
        self.anomaly = anomaly or AnomalyConfig()
        cfg = self.indicators
        _fast, slow, sig = cfg.macd
        self._ring = max(*cfg.ema_periods, slow, cfg.bollinger[0], 2)
        self._keys: dict[str, int] = {}
        self._a: dict[str, np.ndarray] = {}
        self._scalars = ["n", "prev_close", "rsi_g", "rsi_l", "macd_fast", "macd_slow", "macd_signal", "bb_t1",
                         "atr", "day", "s_pv", "s_v", "s_p4", "s_n",
                         *(f"ema_{p}" for p in cfg.ema_periods),
                         *(f"t_{x}_{w}" for x in ("pv", "v", "p4") for w in cfg.vwap_rolling_bars)]
        self._rings = {"close": self._ring, "macd": sig, "tr": cfg.atr_period,
                       "ret": self.anomaly.window, "lvol": self.anomaly.window, "vol": self.anomaly.window,
                       **{f"pv_{w}": w for w in cfg.vwap_rolling_bars}, **{f"v_{w}": w for w in cfg.vwap_rolling_bars},
                       **{f"p4_{w}": w for w in cfg.vwap_rolling_bars}}
        self._grow(16)

    # -- storage -----------------------------------------------------------------------------
    def _grow(self, capacity: int) -> None:
        old = self._a
        size = old["n"].shape[0] if old else 0
        new: dict[str, np.ndarray] = {k: np.zeros(capacity) for k in self._scalars}
        new.update({f"r_{k}": np.zeros((capacity, w)) for k, w in self._rings.items()})
        for key, arr in old.items():
            new[key][:size] = arr
        self._a = new

    def slots(self, keys: Sequence[str]) -> np.ndarray:
        """Slot numbers of ``keys``, adding unseen keys."""
        for key in keys:
            if key not in self._keys:
                self._keys[key] = len(self._keys)
        if len(self._keys) > self._a["n"].shape[0]:
            self._grow(max(2 * self._a["n"].shape[0], len(self._keys)))
        return np.fromiter((self._keys[k] for k in keys), dtype=np.int64, count=len(keys))

    @property
    def keys(self) -> list[str]:
        """Keys in slot order."""
        return list(self._keys)

    def bars_seen(self, key: str) -> int:
        """Candles applied to ``key``'s state so far (0 for an unknown key)."""
        return int(self._a["n"][self._keys[key]]) if key in self._keys else 0

    # -- ring helpers --------------------------------------------------------------------------
    def _last(self, ring: str, s: np.ndarray, i: np.ndarray, count: int) -> np.ndarray:
        """The last ``count`` values (oldest first) of ``ring`` whose newest entry is bar ``i``."""
        r = self._a[f"r_{ring}"]
        cols = (i[:, None] - count + 1 + np.arange(count)[None, :]) % r.shape[1]
        return np.asarray(r[s[:, None], cols])

    def _seed(self, ring: str, s: np.ndarray, i: np.ndarray, count: int, when: np.ndarray) -> np.ndarray:
        """Mean of the last ``count`` ring values, computed only on rows where ``when`` (NaN elsewhere)."""
        out = np.full(s.shape[0], np.nan)
        rows = np.flatnonzero(when)
        if rows.shape[0]:
            out[rows] = self._last(ring, s[rows], i[rows], count).sum(axis=1) / count
        return out

    def _oldest(self, ring: str, s: np.ndarray, i: np.ndarray, count: int) -> np.ndarray:
        """The ring value ``count - 1`` bars before bar ``i`` (the one leaving a ``count``-bar window)."""
        r = self._a[f"r_{ring}"]
        return np.asarray(r[s, (i - count + 1) % r.shape[1]])

    def _put(self, ring: str, s: np.ndarray, i: np.ndarray, values: np.ndarray) -> None:
        r = self._a[f"r_{ring}"]
        r[s, i % r.shape[1]] = values

    # -- the update ----------------------------------------------------------------------------
    def update(self, keys: Sequence[str], *, ts: np.ndarray, open_: np.ndarray, high: np.ndarray,
               low: np.ndarray, close: np.ndarray, volume: np.ndarray) -> dict[str, np.ndarray]:
        """Apply one closed candle to each series in ``keys`` and return their current values.

        Parameters
        ----------
        keys:
            Distinct series keys, one per candle.
        ts, open_, high, low, close, volume:
            The candles (arrays of ``len(keys)``), each newer than the series' previous candle.

        Returns
        -------
        dict
            Column name (the batch names: ``ema_20``, ``rsi_14``, ``vwap_1d``, ``ret_rz_50``...) ->
            float64 array aligned with ``keys``; NaN during a series' warm-up.

        Raises
        ------
        ValueError
            When ``keys`` repeats a key (apply the candles of one series in separate calls).
        """
        if len(set(keys)) != len(keys):
            raise ValueError("update() takes at most one candle per series per call")
        s = self.slots(keys)
        a = self._a
        c, h, lo, o, v = (np.asarray(x, dtype=np.float64) for x in (close, high, low, open_, volume))
        ts = np.asarray(ts, dtype=np.int64)
        i = a["n"][s].astype(np.int64)
        prev = a["prev_close"][s]
        has_prev = i >= 1
        out: dict[str, np.ndarray] = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            out["log_ret_1"] = np.where(has_prev, np.log(c / prev), np.nan)
            out["gap_pct"] = np.where(has_prev, o / prev - 1.0, np.nan)
            self._put("close", s, i, c)
            self._ema(s, i, c, out)
            self._rsi(s, i, c, prev, out)
            self._macd(s, i, c, out)
            self._bbands(s, i, c, out)
            self._atr(s, i, h, lo, prev, c, out)
            self._vwap(s, i, ts, o, h, lo, c, v, out)
            self._anomaly(s, i, out["log_ret_1"], v, out)
        a["prev_close"][s] = c
        a["n"][s] = i + 1
        return out

    def _ema(self, s: np.ndarray, i: np.ndarray, c: np.ndarray, out: dict[str, np.ndarray]) -> None:
        for p in self.indicators.ema_periods:
            state = self._a[f"ema_{p}"]
            k = 2.0 / (p + 1)
            seed = self._seed("close", s, i, p, i == p - 1)
            prev = state[s]
            value = np.where(i == p - 1, seed, np.where(i >= p, ((c - prev) * k) + prev, np.nan))
            state[s] = np.where(i >= p - 1, value, 0.0)
            out[f"ema_{p}"] = value

    def _rsi(self, s: np.ndarray, i: np.ndarray, c: np.ndarray, prev: np.ndarray,
             out: dict[str, np.ndarray]) -> None:
        n = self.indicators.rsi_period
        a = self._a
        diff = np.where(i >= 1, c - prev, 0.0)
        gain, loss = np.where(diff < 0, 0.0, diff), np.where(diff < 0, -diff, 0.0)
        g, lo = a["rsi_g"][s], a["rsi_l"][s]
        warm = i <= n
        g = np.where(warm, g + gain, ((g * (n - 1)) + gain) / n)
        lo = np.where(warm, lo + loss, ((lo * (n - 1)) + loss) / n)
        g = np.where(i == n, g / n, g)
        lo = np.where(i == n, lo / n, lo)
        a["rsi_g"][s], a["rsi_l"][s] = g, lo
        total = g + lo
        rsi = np.where((total > -TA_ZERO) & (total < TA_ZERO), 0.0, 100.0 * (g / total))
        out[f"rsi_{n}"] = np.where(i >= n, rsi, np.nan)

    def _macd(self, s: np.ndarray, i: np.ndarray, c: np.ndarray, out: dict[str, np.ndarray]) -> None:
        fast, slow, sig = self.indicators.macd
        a = self._a
        start = slow - 1  # TA-Lib seeds both EMAs at this bar: SMA of the last `fast` / `slow` closes
        lines = []
        for name, p in (("macd_fast", fast), ("macd_slow", slow)):
            k = 2.0 / (p + 1)
            prev = a[name][s]
            seed = self._seed("close", s, i, p, i == start)
            value = np.where(i == start, seed, ((c - prev) * k) + prev)
            a[name][s] = np.where(i >= start, value, 0.0)
            lines.append(value)
        line = lines[0] - lines[1]
        j = i - start  # index on the MACD line
        self._put("macd", s, np.maximum(j, 0), np.where(j >= 0, line, 0.0))
        k = 2.0 / (sig + 1)
        prev = a["macd_signal"][s]
        seed = self._seed("macd", s, np.maximum(j, 0), sig, j == sig - 1)
        signal = np.where(j == sig - 1, seed, ((line - prev) * k) + prev)
        a["macd_signal"][s] = np.where(j >= sig - 1, signal, 0.0)
        ready = j >= sig - 1
        m = f"{fast}_{slow}_{sig}"
        out[f"macd_{m}"] = np.where(ready, line, np.nan)
        out[f"macd_signal_{m}"] = np.where(ready, signal, np.nan)
        out[f"macd_hist_{m}"] = np.where(ready, line - signal, np.nan)

    def _bbands(self, s: np.ndarray, i: np.ndarray, c: np.ndarray, out: dict[str, np.ndarray]) -> None:
        n, k = self.indicators.bollinger
        a = self._a
        t1 = a["bb_t1"][s] + c
        ready = i >= n - 1
        middle = t1 / n  # TA-Lib's running-total SMA, bit for bit
        window = self._last("close", s, i, n)
        dev2 = ((window - middle[:, None]) ** 2).mean(axis=1)  # TA-Lib 0.8 agrees with the two-pass variance
        std = np.where(dev2 < TA_ZERO, 0.0, np.sqrt(dev2))
        a["bb_t1"][s] = np.where(ready, t1 - window[:, 0], t1)
        dev = std * k
        upper, lower = middle + dev, middle - dev
        width = upper - lower
        b = f"{n}_{k:g}"
        out[f"bb_upper_{b}"] = np.where(ready, upper, np.nan)
        out[f"bb_middle_{b}"] = np.where(ready, middle, np.nan)
        out[f"bb_lower_{b}"] = np.where(ready, lower, np.nan)
        out[f"bb_pctb_{b}"] = np.where(ready & (width > 0), (c - lower) / width, np.nan)
        out[f"bb_width_{b}"] = np.where(ready, width / middle, np.nan)

    def _atr(self, s: np.ndarray, i: np.ndarray, h: np.ndarray, lo: np.ndarray, prev: np.ndarray,
             c: np.ndarray, out: dict[str, np.ndarray]) -> None:
        n = self.indicators.atr_period
        a = self._a
        tr = np.maximum(np.maximum(h - lo, np.abs(prev - h)), np.abs(lo - prev))
        self._put("tr", s, i, tr)
        seed = self._seed("tr", s, i, n, i == n)
        prev_atr = a["atr"][s]
        atr = np.where(i == n, seed, ((prev_atr * (n - 1)) + tr) / n)
        a["atr"][s] = np.where(i >= n, atr, 0.0)
        out[f"atr_{n}"] = np.where(i >= n, atr, np.nan)
        out[f"atr_pct_{n}"] = out[f"atr_{n}"] / c

    def _vwap(self, s: np.ndarray, i: np.ndarray, ts: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray,
              c: np.ndarray, v: np.ndarray, out: dict[str, np.ndarray]) -> None:
        a = self._a
        tp = (h + lo + c) / 3.0
        p4 = (o + h + lo + c) / 4.0
        day = (ts // SESSION_MS).astype(np.float64)
        same = (i >= 1) & (a["day"][s] == day)
        pv = np.where(same, a["s_pv"][s], 0.0) + tp * v
        vol = np.where(same, a["s_v"][s], 0.0) + v
        ps = np.where(same, a["s_p4"][s], 0.0) + p4
        cnt = np.where(same, a["s_n"][s], 0.0) + 1.0
        a["day"][s], a["s_pv"][s], a["s_v"][s], a["s_p4"][s], a["s_n"][s] = day, pv, vol, ps, cnt
        out["vwap_1d"] = np.where(vol > 0, pv / vol, np.nan)
        out["twap_1d"] = ps / cnt
        for w in self.indicators.vwap_rolling_bars:
            ready = i >= w - 1
            sums = []
            for ring, x in ((f"pv_{w}", tp * v), (f"v_{w}", v), (f"p4_{w}", p4)):
                self._put(ring, s, i, x)
                total = a[f"t_{ring}"][s] + x  # running window sum: add the new bar ...
                sums.append(total)
                a[f"t_{ring}"][s] = np.where(ready, total - self._oldest(ring, s, i, w), total)  # ... drop the oldest
            out[f"vwap_roll_{w}"] = np.where(ready & (sums[1] > 0), sums[0] / sums[1], np.nan)
            out[f"twap_roll_{w}"] = np.where(ready, sums[2] / w, np.nan)

    def _anomaly(self, s: np.ndarray, i: np.ndarray, ret: np.ndarray, v: np.ndarray,
                 out: dict[str, np.ndarray]) -> None:
        w = self.anomaly.window
        lvol = np.log1p(v)
        # the baseline is the w bars before this one: ring entries i-w .. i-1
        for name, ring, x, warm in (("ret_rz", "ret", ret, w + 1), ("volume_rz", "lvol", lvol, w)):
            past = self._last(ring, s, i - 1, w)
            med = _median_rows(past)
            mad = _median_rows(np.abs(past - med[:, None]))
            z = np.where(mad > 0, (x - med) / (MAD_TO_SIGMA * mad), np.nan)
            out[f"{name}_{w}"] = np.where(i >= warm, z, np.nan)
        vmed = _median_rows(self._last("vol", s, i - 1, w))
        out[f"volume_spike_{w}"] = np.where((i >= w) & (vmed > 0), v / vmed, np.nan)
        self._put("ret", s, i, np.where(np.isnan(ret), 0.0, ret))
        self._put("lvol", s, i, lvol)
        self._put("vol", s, i, v)

    # -- persistence ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-able data (configs, keys, arrays as nested lists)."""
        size = len(self._keys)
        return {
            "version": STATE_VERSION,
            "indicators": self.indicators.model_dump(mode="json"),
            "anomaly": self.anomaly.model_dump(mode="json"),
            "keys": list(self._keys),
            "arrays": {k: v[:size].tolist() for k, v in self._a.items()},
        }

    @classmethod
    def restore(cls, snapshot: Mapping[str, Any]) -> StreamingFeatures:
        """Rebuild a state from :meth:`snapshot` output.

        Raises
        ------
        ValueError
            When the snapshot's version is not this code's.
        """
        if snapshot.get("version") != STATE_VERSION:
            raise ValueError(f"state snapshot version {snapshot.get('version')!r} != {STATE_VERSION}")
        state = cls(IndicatorConfig.model_validate(snapshot["indicators"]),
                    AnomalyConfig.model_validate(snapshot["anomaly"]))
        keys = list(snapshot["keys"])
        state.slots(keys)
        for name, values in snapshot["arrays"].items():
            if keys:
                state._a[name][: len(keys)] = np.asarray(values, dtype=np.float64)
        return state
