"""Map texts to trading symbols: cashtags, pairs, tickers, names and aliases, with the rule that fired.

Bases come from the exchange's markets (ccxt unified ``BASE/QUOTE``) plus a curated alias table.
Tickers that are also English words (ONE, LINK, SOL, GAS, NEAR, ...) only count as a cashtag, in a
pair, or upper-case next to a crypto context word; lower-case words never map to a ticker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

# Curated aliases: base -> names that mean it. Ambiguous names (common nouns) are listed in
# CASE_SENSITIVE_NAMES and must appear capitalised.
ALIASES: dict[str, tuple[str, ...]] = {
    "BTC": ("bitcoin", "bitcoins", "xbt", "btc"),
    "ETH": ("ethereum", "ether", "eth"),
    "SOL": ("solana",),
    "XRP": ("ripple", "xrp"),
    "DOGE": ("dogecoin", "doge"),
    "ADA": ("cardano",),
    "AVAX": ("avalanche",),
    "LINK": ("chainlink",),
    "LTC": ("litecoin",),
    "TRX": ("tron",),
    "DOT": ("polkadot",),
    "MATIC": ("polygon",),
    "SHIB": ("shiba inu", "shiba"),
    "BNB": ("binance coin", "bnb"),
    "BCH": ("bitcoin cash",),
    "XLM": ("stellar",),
    "ATOM": ("cosmos",),
    "NEAR": ("near protocol",),
    "UNI": ("uniswap",),
    "XMR": ("monero",),
    "ETC": ("ethereum classic",),
    "ALGO": ("algorand",),
    "FIL": ("filecoin",),
    "ICP": ("internet computer",),
    "APE": ("apecoin",),
    "SAND": ("the sandbox",),
    "MANA": ("decentraland",),
    "AXS": ("axie infinity",),
    "LUNA": ("terra", "luna"),
    "FTM": ("fantom",),
    "EGLD": ("elrond", "multiversx"),
    "HBAR": ("hedera",),
    "VET": ("vechain",),
    "XTZ": ("tezos",),
    "AAVE": ("aave",),
    "CRV": ("curve dao", "curve finance"),
    "ZEC": ("zcash",),
    "DASH": ("dash",),
    "CRO": ("cronos",),
    "USDT": ("tether",),
    "USDC": ("usd coin",),
    "ONE": ("harmony one",),
    "GAS": ("neo gas",),
    "KSM": ("kusama",),
    "APT": ("aptos",),
    "ARB": ("arbitrum",),
    "OP": ("optimism",),
    "TON": ("toncoin",),
    "PEPE": ("pepe",),
}
CASE_SENSITIVE_NAMES: frozenset[str] = frozenset({
    "avalanche", "polygon", "stellar", "cosmos", "terra", "luna", "curve finance", "optimism", "tron",
    "dash", "pepe", "aave", "fantom", "hedera", "shiba", "near protocol", "the sandbox",
})
COMMON_WORD_TICKERS: frozenset[str] = frozenset({
    "ONE", "LINK", "SOL", "GAS", "NEAR", "DOT", "UNI", "ATOM", "SAND", "MANA", "APE", "OP", "ARB", "TON",
    "GRT", "FLOW", "MASK", "COMP", "BOND", "TRUE", "CAKE", "GALA", "ICP", "FIL", "CRO", "ETC", "DASH", "LUNA",
    "REN", "BAT", "KEY", "POND", "SUN", "WIN", "HOT", "CHZ", "STORJ", "MINA", "RUNE", "ANT", "ACH", "AMP",
    "FUN", "ARK", "DENT", "STEEM", "BAND", "OM", "ID", "MAGIC", "HIGH", "EDU", "ALPHA", "BETA", "FOR",
    "AUDIO", "SUPER", "PEOPLE", "CITY", "USD", "EUR", "GBP", "CEO", "SEC", "ETF", "NFT", "IT", "AI", "ALL",
    "ONG", "NEO",
})
CONTEXT_WORDS: frozenset[str] = frozenset({
    "token", "tokens", "coin", "coins", "crypto", "cryptocurrency", "altcoin", "altcoins", "price", "rally",
    "rallies", "surges", "surge", "jumps", "drops", "falls", "staking", "defi", "blockchain", "holders",
    "whales", "network", "mainnet", "usdt", "btc", "eth", "usd",
})
QUOTES: tuple[str, ...] = ("USDT", "USDC", "BUSD", "USD", "EUR", "BTC", "ETH", "GBP", "TRY")

DEFAULT_BASES: tuple[str, ...] = (
    "BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "AVAX", "LINK", "LTC", "TRX", "DOT", "MATIC", "SHIB", "BNB",
    "BCH", "XLM", "ATOM", "NEAR", "UNI", "XMR", "ETC", "ALGO", "FIL", "ICP", "APE", "SAND", "MANA", "AXS",
    "LUNA", "FTM", "EGLD", "HBAR", "VET", "XTZ", "EOS", "AAVE", "CRV", "ZEC", "DASH", "CRO", "KSM", "APT",
    "ARB", "OP", "TON", "PEPE", "ONE", "GAS",
)

_CASHTAG = re.compile(r"\$([A-Za-z][A-Za-z0-9]{1,9})\b")
_PAIR = re.compile(r"\b([A-Z0-9]{2,10})\s?[/\-]\s?([A-Z]{3,5})\b|\b([A-Z0-9]{2,8})(USDT|USDC|BUSD)\b")
_UPPER = re.compile(r"(?<![\w$])([A-Z][A-Z0-9]{1,9})(?![\w])")
_WORDS = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class SymbolMatch:
    """One symbol found in a text."""

    symbol: str
    confidence: float
    rule: str


RULE_CONFIDENCE: dict[str, float] = {
    "cashtag": 0.99, "pair": 0.97, "name": 0.95, "ticker": 0.9, "ticker_context": 0.75,
}


class SymbolMapper:
    """Finds the symbols a text talks about.

    Parameters
    ----------
    markets:
        ccxt unified market symbols (``BTC/USDT``); their bases form the universe.
    quote:
        Quote currency of the emitted symbol (``BTC`` -> ``BTC/USDT``).
    """

    def __init__(self, markets: Iterable[str] = (), *, quote: str = "USDT") -> None:
        bases = {m.split("/")[0].split(":")[0].upper() for m in markets if "/" in m} or set(DEFAULT_BASES)
        self.quote = quote
        self.bases = frozenset(bases - {quote})
        names: list[tuple[str, str]] = []
        for base, aliases in ALIASES.items():
            if base in self.bases:
                names.extend((alias, base) for alias in aliases)
        names.sort(key=lambda item: -len(item[0]))  # longest first: "bitcoin cash" before "bitcoin"
        self._names = names
        self._name_re = [(_name_pattern(alias), alias, base) for alias, base in names]

    def _symbol(self, base: str) -> str:
        return f"{base}/{self.quote}"

    def map_text(self, text: str) -> list[SymbolMatch]:
        """Every symbol in ``text`` once, with the strongest rule that fired, sorted by symbol.

        >>> [m.symbol for m in SymbolMapper(["BTC/USDT", "ETH/USDT", "LINK/USDT"]).map_text(
        ...     "Bitcoin slips while Ether holds; link in bio")]
        ['BTC/USDT', 'ETH/USDT']
        """
        found: dict[str, str] = {}

        def hit(base: str, rule: str) -> None:
            base = base.upper()
            if base not in self.bases:
                return
            old = found.get(base)
            if old is None or RULE_CONFIDENCE[rule] > RULE_CONFIDENCE[old]:
                found[base] = rule

        for match in _CASHTAG.finditer(text):
            hit(match.group(1), "cashtag")
        for match in _PAIR.finditer(text):
            base, quote = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
            if quote in QUOTES:
                hit(base, "pair")
                hit(quote, "pair")  # ETH/BTC names both assets; quotes outside the universe are ignored
        masked = text
        for pattern, alias, base in self._name_re:
            if pattern.search(masked):
                hit(base, "ticker" if alias.upper() == base else "name")
                masked = pattern.sub(" ", masked)  # "bitcoin cash" must not also count as "bitcoin"
        words = set(_WORDS.findall(text.lower()))
        context = bool(words & CONTEXT_WORDS)
        for match in _UPPER.finditer(masked):
            token = match.group(1)
            if token in COMMON_WORD_TICKERS:
                if context and not _is_shouted(text):
                    hit(token, "ticker_context")
            else:
                hit(token, "ticker")
        return [SymbolMatch(self._symbol(b), RULE_CONFIDENCE[r], r) for b, r in sorted(found.items())]

    def map_table(self, texts: pa.Table, *, id_column: str = "id", text_columns: tuple[str, ...] = ("title", "body"),
                  ) -> pa.Table:
        """``text_symbols`` rows (text_id, symbol, confidence, rule) for a table of texts."""
        ids: list[str] = []
        symbols: list[str] = []
        conf: list[float] = []
        rules: list[str] = []
        columns = [texts.column(c).to_pylist() for c in text_columns if c in texts.column_names]
        for i, text_id in enumerate(texts.column(id_column).to_pylist()):
            joined = " \n ".join(str(col[i]) for col in columns if col[i])
            for m in self.map_text(joined):
                ids.append(text_id)
                symbols.append(m.symbol)
                conf.append(m.confidence)
                rules.append(m.rule)
        return pa.table({"text_id": pa.array(ids, pa.string()), "symbol": pa.array(symbols, pa.string()),
                         "confidence": pa.array(conf, pa.float32()), "rule": pa.array(rules, pa.string())})


def _name_pattern(alias: str) -> re.Pattern[str]:
    """Whole-word pattern for an alias; ambiguous names must be capitalised (``Terra``, not ``terra``)."""
    if alias in CASE_SENSITIVE_NAMES:
        spelled = " ".join(w.capitalize() for w in alias.split())
        return re.compile(r"(?<![\w$])(?:" + re.escape(spelled) + "|" + re.escape(alias.upper()) + r")(?![\w])")
    return re.compile(r"(?<![\w$])" + re.escape(alias) + r"(?![\w])", re.IGNORECASE)


def _is_shouted(text: str) -> bool:
    """True when most letters are upper case (an all-caps headline makes every word look like a ticker)."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) > 12 and sum(c.isupper() for c in letters) / len(letters) > 0.7
