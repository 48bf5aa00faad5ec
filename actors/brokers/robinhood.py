"""Robinhood Crypto Trading API: a small Ed25519-signed REST client and the :class:`Broker` adapter.

Signing (Robinhood's public API docs): the message is ``api_key + timestamp + path + method + body``
(path with its query string, method upper-case, body the exact JSON text or empty), signed with
the account's Ed25519 private key; headers ``x-api-key``, ``x-timestamp`` (Unix seconds) and
``x-signature`` (base64). Client order ids must be UUIDs: ours are mapped with ``uuid5`` so that a
retry reuses the same id. Stops are emulated by the OMS (``supports_stops`` is False).
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from actors.brokers.clock import Clock, SystemClock
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
    to_decimal,
)
from cluster.errors import ExchangeUnavailable, RateLimited

logger = logging.getLogger(__name__)
_CID_NAMESPACE = uuid.UUID("8f7a4c3e-2f51-4c1b-9a0e-5d3c2b1a0f99")
_STATES = {"open": OrderStatus.ACCEPTED, "partially_filled": OrderStatus.PARTIALLY_FILLED,
           "filled": OrderStatus.FILLED, "canceled": OrderStatus.CANCELLED, "failed": OrderStatus.REJECTED}
ORDERS = "/api/v1/crypto/trading/orders/"


class RobinhoodConfig(BaseModel):
    """Credentials and endpoint of the Robinhood Crypto Trading API.

    Parameters
    ----------
    private_key_b64:
        The base64 Ed25519 private key (32-byte seed) issued with the API key.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr
    private_key_b64: SecretStr
    base_url: str = "https://trading.robinhood.com"
    timeout_s: float = Field(10.0, gt=0)
    quote: str = "USD"


def venue_uuid(client_order_id: str) -> str:
    """The UUID sent as Robinhood's ``client_order_id`` for our client order id (stable across retries).

    >>> venue_uuid("cr0123") == venue_uuid("cr0123")
    True
    """
    try:
        return str(uuid.UUID(client_order_id))
    except ValueError:
        return str(uuid.uuid5(_CID_NAMESPACE, client_order_id))


class RobinhoodClient:
    """Signed JSON requests (``requests`` session; errors translated to coinray's)."""

    def __init__(self, cfg: RobinhoodConfig, clock: Clock | None = None, session: Any | None = None) -> None:
        import requests
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from cluster.redact import register_secrets

        register_secrets([cfg.api_key.get_secret_value(), cfg.private_key_b64.get_secret_value()])
        seed = base64.b64decode(cfg.private_key_b64.get_secret_value())
        self._key = Ed25519PrivateKey.from_private_bytes(seed[:32])
        self.cfg = cfg
        self._clock = clock or SystemClock()
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"RobinhoodClient(base_url={self.cfg.base_url!r}, api_key=**********)"

    def sign(self, method: str, path: str, body: str, timestamp: int) -> dict[str, str]:
        """The auth headers for one request."""
        api_key = self.cfg.api_key.get_secret_value()
        message = f"{api_key}{timestamp}{path}{method.upper()}{body}"
        signature = base64.b64encode(self._key.sign(message.encode())).decode()
        return {"x-api-key": api_key, "x-timestamp": str(timestamp), "x-signature": signature,
                "Content-Type": "application/json; charset=utf-8"}

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Send a signed request and return the decoded JSON (or text)."""
        import requests

        text = json.dumps(body, separators=(",", ":")) if body is not None else ""
        headers = self.sign(method, path, text, self._clock.now_ms() // 1000)
        try:
            resp = self._session.request(method, self.cfg.base_url + path, data=text or None, headers=headers,
                                         timeout=self.cfg.timeout_s)
        except requests.Timeout as exc:
            raise BrokerTimeout(f"robinhood {method} {path}: timed out") from exc
        except requests.ConnectionError as exc:
            raise BrokerTimeout(f"robinhood {method} {path}: connection failed") from exc
        if resp.status_code == 429:
            raise RateLimited(f"robinhood {method} {path}: rate limited",
                              retry_after_s=float(resp.headers.get("Retry-After", 0) or 0))
        if resp.status_code >= 500:
            raise ExchangeUnavailable(f"robinhood {method} {path}: HTTP {resp.status_code}")
        if resp.status_code == 404:
            raise OrderNotFound(f"robinhood {method} {path}: not found")
        if resp.status_code in (401, 403):
            raise BrokerError(f"robinhood {method} {path}: HTTP {resp.status_code} (authentication)")
        if resp.status_code >= 400:
            detail = resp.text[:300]
            if "client_order_id" in detail and "exist" in detail:
                raise DuplicateOrder(f"robinhood: {detail}", reason="duplicate client order id")
            raise OrderRejected(f"robinhood {method} {path}: HTTP {resp.status_code}: {detail}", reason=detail)
        try:
            return resp.json()
        except ValueError:
            return resp.text


class RobinhoodBroker:
    """A :class:`actors.brokers.base.Broker` over :class:`RobinhoodClient`."""

    name = "robinhood"

    def __init__(self, cfg: RobinhoodConfig, client: RobinhoodClient | None = None,
                 clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.client = client or RobinhoodClient(cfg, clock)
        self._cids: dict[str, str] = {}  # venue uuid -> our client order id
        self._symbols: set[str] = set()

    @staticmethod
    def _pair(symbol: str) -> str:
        return symbol.replace("/", "-")

    def market(self, symbol: str) -> MarketInfo:
        """From ``trading_pairs``."""
        data = self.client.request("GET", f"/api/v1/crypto/trading/trading_pairs/?symbol={self._pair(symbol)}")
        row = data["results"][0]
        return MarketInfo(symbol, row["asset_code"], row["quote_code"], to_decimal(row["asset_increment"]),
                          to_decimal(row["quote_increment"]), to_decimal(row["min_order_size"]), ZERO,
                          supports_stops=False)

    def last_price(self, symbol: str) -> Decimal:
        """Mid price from ``best_bid_ask``."""
        data = self.client.request("GET", f"/api/v1/crypto/marketdata/best_bid_ask/?symbol={self._pair(symbol)}")
        return to_decimal(data["results"][0]["price"])

    def submit(self, request: OrderRequest) -> Order:
        """``POST orders/`` (market or limit)."""
        if request.type not in (OrderType.MARKET, OrderType.LIMIT):
            raise OrderRejected(f"robinhood: {request.type} is emulated by the OMS", reason="unsupported")
        self._symbols.add(request.symbol)
        vid = venue_uuid(request.client_order_id)
        self._cids[vid] = request.client_order_id
        body: dict[str, Any] = {"client_order_id": vid, "side": str(request.side), "type": str(request.type),
                                "symbol": self._pair(request.symbol)}
        if request.type is OrderType.MARKET:
            body["market_order_config"] = {"asset_quantity": f"{request.qty:f}"}
        else:
            body["limit_order_config"] = {"asset_quantity": f"{request.qty:f}",
                                          "limit_price": f"{request.limit_price:f}",
                                          "time_in_force": str(request.time_in_force).lower()}
        return self._order(self.client.request("POST", ORDERS, body), request)

    def cancel(self, symbol: str, client_order_id: str) -> Order:
        """``POST orders/{id}/cancel/`` then read the order back."""
        order = self.fetch_order(symbol, client_order_id=client_order_id)
        if order is None:
            raise OrderNotFound(f"robinhood: no order {client_order_id}")
        if order.status.terminal:
            return order
        self.client.request("POST", f"{ORDERS}{order.venue_order_id}/cancel/")
        return self.fetch_order(symbol, client_order_id=client_order_id) or order

    def amend(self, symbol: str, client_order_id: str, new_client_order_id: str, *, qty: Decimal | None = None,
              limit_price: Decimal | None = None) -> Order:
        """Cancel/replace."""
        old = self.cancel(symbol, client_order_id)
        if old.status is not OrderStatus.CANCELLED:
            raise OrderRejected(f"robinhood: {client_order_id} is {old.status}", reason="not open")
        r = old.request
        return self.submit(OrderRequest(new_client_order_id, r.symbol, r.side, r.type, qty or old.remaining_qty,
                                        limit_price or r.limit_price, None, r.time_in_force))

    def fetch_order(self, symbol: str, *, client_order_id: str | None = None,
                    venue_order_id: str | None = None) -> Order | None:
        """By venue id (``GET orders/{id}/``) or by client id (listing the symbol's orders)."""
        if venue_order_id:
            try:
                return self._order(self.client.request("GET", f"{ORDERS}{venue_order_id}/"), None)
            except OrderNotFound:
                return None
        want = venue_uuid(client_order_id or "")
        for raw in self._list(f"{ORDERS}?symbol={self._pair(symbol)}"):
            if raw.get("client_order_id") == want:
                return self._order(raw, None)
        return None

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders in state open or partially filled."""
        query = f"&symbol={self._pair(symbol)}" if symbol else ""
        return [self._order(r, None) for r in self._list(f"{ORDERS}?state=open{query}")] + \
            [self._order(r, None) for r in self._list(f"{ORDERS}?state=partially_filled{query}")]

    def balances(self) -> dict[str, Balance]:
        """Buying power (quote) plus holdings."""
        acct = self.client.request("GET", "/api/v1/crypto/trading/accounts/")
        out = {self.cfg.quote: Balance(self.cfg.quote, to_decimal(acct["buying_power"]),
                                       to_decimal(acct["buying_power"]))}
        for h in self._list("/api/v1/crypto/trading/holdings/"):
            out[h["asset_code"]] = Balance(h["asset_code"], to_decimal(h["quantity_available_for_trading"]),
                                           to_decimal(h["total_quantity"]))
        return out

    def positions(self) -> dict[str, Position]:
        """Holdings as positions against the quote currency."""
        return {f"{a}/{self.cfg.quote}": Position(f"{a}/{self.cfg.quote}", b.total)
                for a, b in self.balances().items() if a != self.cfg.quote and b.total}

    def fills(self, since_ms: int | None = None) -> list[Fill]:
        """Executions of the traded symbols' orders (Robinhood reports them inside each order)."""
        out: list[Fill] = []
        for symbol in sorted(self._symbols):
            for raw in self._list(f"{ORDERS}?symbol={self._pair(symbol)}"):
                cid = self._cids.get(raw.get("client_order_id", ""), raw.get("client_order_id", ""))
                for i, ex in enumerate(raw.get("executions") or []):
                    ts = _ms(ex["timestamp"])
                    if since_ms is None or ts >= since_ms:
                        out.append(Fill(f"{raw['id']}:{i}", cid, raw["id"], symbol, Side(raw["side"]),
                                        to_decimal(ex["quantity"]), to_decimal(ex["effective_price"]), ZERO,
                                        self.cfg.quote, ts, "taker", self.name))
        return sorted(out, key=lambda f: (f.ts_ms, f.fill_id))

    def _list(self, path: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        page: Any = self.client.request("GET", path)
        while True:
            rows.extend(page.get("results", []))
            nxt = page.get("next")
            if not nxt:
                return rows
            page = self.client.request("GET", nxt.removeprefix(self.cfg.base_url))

    def _order(self, raw: dict[str, Any], request: OrderRequest | None) -> Order:
        cid = self._cids.get(raw.get("client_order_id", ""), raw.get("client_order_id", ""))
        symbol = raw["symbol"].replace("-", "/")
        cfg = raw.get("market_order_config") or raw.get("limit_order_config") or {}
        qty = to_decimal(cfg.get("asset_quantity") or (request.qty if request else 0))
        if request is None:
            limit = cfg.get("limit_price")
            kind = OrderType.LIMIT if raw.get("type") == "limit" else OrderType.MARKET
            request = OrderRequest(cid, symbol, Side(raw["side"]), kind, qty,
                                   to_decimal(limit) if kind is OrderType.LIMIT and limit else None)
        avg = raw.get("average_price")
        return Order(request, _STATES.get(raw.get("state", ""), OrderStatus.ACCEPTED), raw["id"],
                     to_decimal(raw.get("filled_asset_quantity") or 0), to_decimal(avg) if avg else None, ZERO,
                     _ms(raw["created_at"]), _ms(raw.get("updated_at") or raw["created_at"]), "", self.name)


def _ms(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
