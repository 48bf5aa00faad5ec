"""``CcxtBroker``: Binance and Coinbase accounts through ccxt, behind the :class:`Broker` interface.

ccxt errors are translated here and nowhere else: unknown outcomes (timeouts, dropped connections)
become ``BrokerTimeout``, venue refusals ``OrderRejected`` (``DuplicateOrder`` for a reused client
id). Stop orders are emulated by the OMS (``MarketInfo.supports_stops`` is False).
"""

from __future__ import annotations

import contextlib
import logging
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from actors.brokers.errors import BrokerError, BrokerTimeout, DuplicateOrder, OrderNotFound, OrderRejected
from actors.brokers.models import (
    ZERO,
    Balance,
    Fill,
    MarketInfo,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
    to_decimal,
)
from cluster.errors import RateLimited

logger = logging.getLogger(__name__)
CCXT_IDS = {"binance": "binance", "coinbase": "coinbaseexchange"}
_BINANCE_STATUS = {"NEW": OrderStatus.ACCEPTED, "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
                   "FILLED": OrderStatus.FILLED, "CANCELED": OrderStatus.CANCELLED,
                   "PENDING_CANCEL": OrderStatus.ACCEPTED, "REJECTED": OrderStatus.REJECTED,
                   "EXPIRED": OrderStatus.EXPIRED, "EXPIRED_IN_MATCH": OrderStatus.EXPIRED}


class CcxtBrokerConfig(BaseModel):
    """How to reach one ccxt venue account.

    Parameters
    ----------
    exchange:
        ``binance`` or ``coinbase`` (Coinbase Exchange).
    testnet:
        Use the venue's testnet/sandbox (ccxt's sandbox mode).
    rest_url:
        Base URL of a local simulator; overrides every REST URL.
    symbols:
        Symbols whose fills are polled (traded symbols are added automatically).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange: Literal["binance", "coinbase"]
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    password: SecretStr | None = Field(None, description="Coinbase API passphrase")
    testnet: bool = False
    rest_url: str | None = None
    quote: str = "USDT"
    symbols: tuple[str, ...] = ()
    timeout_ms: int = Field(10_000, ge=100)


def _translate(exc: Exception, what: str) -> Exception:
    """The coinray error for a ccxt error (``raise _translate(e) from e``)."""
    import ccxt

    msg = f"{what}: {type(exc).__name__}: {exc}"
    if isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFound(msg)
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return RateLimited(msg)
    if isinstance(exc, ccxt.NetworkError):  # RequestTimeout, ExchangeNotAvailable, dropped connections
        return BrokerTimeout(msg)
    if "uplicate" in str(exc):
        return DuplicateOrder(msg, reason="duplicate client order id")
    if isinstance(exc, ccxt.InvalidOrder | ccxt.InsufficientFunds | ccxt.BadRequest | ccxt.BadSymbol):
        return OrderRejected(msg, reason=str(exc)[:200])
    return BrokerError(msg)


class CcxtBroker:
    """A :class:`actors.brokers.base.Broker` over a synchronous ccxt client."""

    def __init__(self, cfg: CcxtBrokerConfig, client: Any | None = None) -> None:
        self.cfg = cfg
        self.name: str = cfg.exchange
        self.client = client or self._make_client(cfg)
        self._cid_by_vid: dict[str, str] = {}
        self._symbols: set[str] = set(cfg.symbols)

    @staticmethod
    def _make_client(cfg: CcxtBrokerConfig) -> Any:
        import ccxt

        from actors.exchanges import binance as binance_venue
        from actors.exchanges import coinbase as coinbase_venue

        venue = binance_venue if cfg.exchange == "binance" else coinbase_venue
        options = dict(venue.CCXT_OPTIONS)
        if cfg.exchange == "binance":  # spot only: no margin-pair or futures lookups on private clients
            options.update(fetchMargins=False, warnOnFetchOpenOrdersWithoutSymbol=False)
        params: dict[str, Any] = {"options": options, "enableRateLimit": cfg.rest_url is None,
                                  "timeout": cfg.timeout_ms}
        for field_name, ccxt_name in (("api_key", "apiKey"), ("api_secret", "secret"), ("password", "password")):
            secret = getattr(cfg, field_name)
            if secret is not None:
                params[ccxt_name] = secret.get_secret_value()
        client = getattr(ccxt, CCXT_IDS[cfg.exchange])(params)
        if cfg.rest_url:  # every REST family points at the simulator, so nothing can leak to a real venue
            base = venue.ccxt_urls(cfg.rest_url, "")
            client.urls["api"] = {k: (base.get(k, base["private"]) if isinstance(v, str) else base.get(k, v))
                                  for k, v in client.urls["api"].items()} | base
        elif cfg.testnet:
            client.set_sandbox_mode(True)
        return client

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import ccxt

        try:
            return fn(*args, **kwargs)
        except ccxt.BaseError as exc:
            raise _translate(exc, f"{self.name} {what}") from exc

    # -- market data ------------------------------------------------------------------------------
    def market(self, symbol: str) -> MarketInfo:
        """Lot, tick, minimum quantity and notional from ccxt's market structure."""
        markets = self._call("load_markets", self.client.load_markets)
        m = markets[symbol]
        prec, limits = m.get("precision", {}), m.get("limits", {})
        return MarketInfo(symbol, m["base"], m["quote"], to_decimal(prec.get("amount") or "0.00000001"),
                          to_decimal(prec.get("price") or "0.00000001"),
                          to_decimal((limits.get("amount") or {}).get("min") or 0),
                          to_decimal((limits.get("cost") or {}).get("min") or 0), supports_stops=False)

    def last_price(self, symbol: str) -> Decimal:
        """The newest public trade's price."""
        trades = self._call("fetch_trades", self.client.fetch_trades, symbol, None, 1)
        if not trades:
            raise BrokerError(f"{self.name}: no trades for {symbol}")
        return to_decimal(trades[-1]["price"])

    # -- orders ---------------------------------------------------------------------------------
    def submit(self, request: OrderRequest) -> Order:
        """``create_order`` with the client order id."""
        if request.type not in (OrderType.MARKET, OrderType.LIMIT):
            raise OrderRejected(f"{self.name}: {request.type} is emulated by the OMS, not sent", reason="unsupported")
        self._symbols.add(request.symbol)
        params: dict[str, Any] = {"clientOrderId": request.client_order_id}
        if request.type is OrderType.LIMIT and request.time_in_force is not TimeInForce.GTC:
            params["timeInForce"] = str(request.time_in_force)
        raw = self._call(f"submit {request.client_order_id}", self.client.create_order, request.symbol,
                         str(request.type), str(request.side), float(request.qty),
                         float(request.limit_price) if request.limit_price is not None else None, params)
        return self._order(raw, request)

    def cancel(self, symbol: str, client_order_id: str) -> Order:
        """Cancel by client id, then read the final state back."""
        current = self.fetch_order(symbol, client_order_id=client_order_id)
        if current is None:
            raise OrderNotFound(f"{self.name}: no order {client_order_id}")
        if current.status.terminal:
            return current
        with contextlib.suppress(OrderNotFound):  # finished meanwhile: the read below tells how
            self._call(f"cancel {client_order_id}", self.client.cancel_order, current.venue_order_id, symbol,
                       self._cid_params(client_order_id))
        after = self.fetch_order(symbol, client_order_id=client_order_id)
        return after if after is not None else current

    def amend(self, symbol: str, client_order_id: str, new_client_order_id: str, *, qty: Decimal | None = None,
              limit_price: Decimal | None = None) -> Order:
        """Cancel/replace."""
        old = self.cancel(symbol, client_order_id)
        if old.status is not OrderStatus.CANCELLED:
            raise OrderRejected(f"{self.name}: {client_order_id} is {old.status}", reason="not open")
        r = old.request
        return self.submit(OrderRequest(new_client_order_id, r.symbol, r.side, r.type, qty or old.remaining_qty,
                                        limit_price or r.limit_price, None, r.time_in_force, r.reduce_only))

    def fetch_order(self, symbol: str, *, client_order_id: str | None = None,
                    venue_order_id: str | None = None) -> Order | None:
        """By client id (or venue id); None when the venue does not know it."""
        try:
            if client_order_id:
                raw = self._call("fetch_order", self.client.fetch_order, "", symbol,
                                 self._cid_params(client_order_id))
            else:
                raw = self._call("fetch_order", self.client.fetch_order, venue_order_id, symbol)
        except OrderNotFound:
            return None
        return self._order(raw, None)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Open orders (of every polled symbol when ``symbol`` is None)."""
        symbols: list[str | None] = [symbol] if symbol else [*sorted(self._symbols)] or [None]
        out: list[Order] = []
        for s in symbols:
            out.extend(self._order(r, None) for r in self._call("open_orders", self.client.fetch_open_orders, s))
        return out

    def balances(self) -> dict[str, Balance]:
        """Free and total per asset."""
        raw = self._call("balances", self.client.fetch_balance)
        return {a: Balance(a, to_decimal(raw["free"].get(a) or 0), to_decimal(raw["total"].get(a) or 0))
                for a in raw.get("total", {}) if raw["total"].get(a)}

    def positions(self) -> dict[str, Position]:
        """Non-quote balances as positions against the configured quote currency."""
        return {f"{a}/{self.cfg.quote}": Position(f"{a}/{self.cfg.quote}", b.total)
                for a, b in self.balances().items() if a != self.cfg.quote and b.total}

    def fills(self, since_ms: int | None = None) -> list[Fill]:
        """``fetch_my_trades`` of every traded symbol, oldest first."""
        out: list[Fill] = []
        for symbol in sorted(self._symbols):
            for t in self._call("fills", self.client.fetch_my_trades, symbol, since_ms):
                vid = str(t.get("order") or "")
                cid = self._cid_by_vid.get(vid) or self._learn_cid(symbol, vid)
                fee = t.get("fee") or {}
                out.append(Fill(str(t["id"]), cid, vid, symbol, Side(t["side"]), to_decimal(t["amount"]),
                                to_decimal(t["price"]), to_decimal(fee.get("cost") or 0),
                                str(fee.get("currency") or self.cfg.quote), int(t.get("timestamp") or 0),
                                str(t.get("takerOrMaker") or "taker"), self.name))
        return sorted(out, key=lambda f: (f.ts_ms, f.fill_id))

    # -- parsing --------------------------------------------------------------------------------
    def _cid_params(self, client_order_id: str) -> dict[str, str]:
        if self.cfg.exchange == "binance":
            return {"origClientOrderId": client_order_id}
        return {"clientOrderId": client_order_id}

    def _learn_cid(self, symbol: str, vid: str) -> str:
        if not vid:
            return ""
        order = self.fetch_order(symbol, venue_order_id=vid)
        return order.client_order_id if order is not None else ""

    def _order(self, raw: dict[str, Any], request: OrderRequest | None) -> Order:
        info = raw.get("info") or {}
        cid = str(raw.get("clientOrderId") or (request.client_order_id if request else ""))
        vid = str(raw.get("id") or "")
        if vid and cid:
            self._cid_by_vid[vid] = cid
        amount = to_decimal(raw.get("amount") or (request.qty if request else 0))
        filled = to_decimal(raw.get("filled") or 0)
        if request is None:
            kind = OrderType.LIMIT if raw.get("type") == "limit" else OrderType.MARKET
            price = raw.get("price")
            request = OrderRequest(cid, raw["symbol"], Side(raw["side"]), kind, amount,
                                   to_decimal(price) if kind is OrderType.LIMIT and price else None)
        status = self._status(raw, info, filled, amount)
        avg = raw.get("average")
        fee = (raw.get("fee") or {}).get("cost")
        ts = int(raw.get("timestamp") or 0)
        return Order(request, status, vid, filled, to_decimal(avg) if avg else None,
                     to_decimal(fee) if fee else ZERO, ts, ts, str(info.get("done_reason") or ""), self.name)

    def _status(self, raw: dict[str, Any], info: dict[str, Any], filled: Decimal, amount: Decimal) -> OrderStatus:
        if self.cfg.exchange == "binance" and info.get("status") in _BINANCE_STATUS:
            return _BINANCE_STATUS[info["status"]]
        status = raw.get("status")
        if status == "open":
            return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
        if status == "closed":
            return OrderStatus.FILLED if filled >= amount else OrderStatus.CANCELLED
        if status == "canceled":
            return OrderStatus.CANCELLED
        if status == "expired":
            return OrderStatus.EXPIRED
        if status == "rejected":
            return OrderStatus.REJECTED
        return OrderStatus.ACCEPTED
