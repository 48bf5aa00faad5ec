"""Build a broker from its config: paper (default), Binance/Coinbase through ccxt, or Robinhood."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from actors.brokers.base import Broker
from actors.brokers.ccxt_broker import CcxtBroker, CcxtBrokerConfig
from actors.brokers.clock import Clock
from actors.brokers.paper import PaperBroker, PaperConfig
from actors.brokers.robinhood import RobinhoodBroker, RobinhoodConfig


class BrokerConfig(BaseModel):
    """Which venue an OMS trades on; exactly the matching sub-config is used. Paper unless told otherwise."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["paper", "binance", "coinbase", "robinhood"] = "paper"
    paper: PaperConfig = PaperConfig()
    ccxt: CcxtBrokerConfig | None = None
    robinhood: RobinhoodConfig | None = None

    @model_validator(mode="after")
    def _has_venue_config(self) -> BrokerConfig:
        if self.kind in ("binance", "coinbase") and (self.ccxt is None or self.ccxt.exchange != self.kind):
            raise ValueError(f"broker kind {self.kind} needs a ccxt config for the same exchange")
        if self.kind == "robinhood" and self.robinhood is None:
            raise ValueError("broker kind robinhood needs a robinhood config")
        return self


def build_broker(cfg: BrokerConfig, clock: Clock) -> Broker:
    """The broker ``cfg`` describes (clients are created here, inside the process that uses them)."""
    if cfg.kind == "paper":
        return PaperBroker(cfg.paper, clock)
    if cfg.kind == "robinhood":
        if cfg.robinhood is None:  # excluded by the validator
            raise ValueError("robinhood config missing")
        return RobinhoodBroker(cfg.robinhood, clock=clock)
    if cfg.ccxt is None:
        raise ValueError("ccxt config missing")
    return CcxtBroker(cfg.ccxt)
