"""``coinray sim``: run the local exchange simulator (Binance or Coinbase formats over recorded data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``coinray sim``."""

    @app.command()
    def sim(
        exchange: Annotated[str, typer.Option(help="binance | coinbase")] = "binance",
        speed: Annotated[float, typer.Option(help="Replay speed-up; 0 = as fast as clients read.")] = 10.0,
        host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port; 0 = any free port.")] = 0,
        trades: Annotated[Path | None, typer.Option(help="freqtrade trades feather to replay.")] = None,
        trades_symbol: Annotated[str | None, typer.Option(help="Symbol of --trades (XRP/ETH).")] = None,
        klines: Annotated[Path | None, typer.Option(help="Directory of freqtrade OHLCV feather files.")] = None,
        fault: Annotated[list[str] | None, typer.Option(
            help="Fault as key=value (FaultConfig field), e.g. disconnect_every=500; repeatable.")] = None,
    ) -> None:
        """Serve recorded data in the venue's REST and WebSocket formats; point ccxt at it with URL overrides."""
        import asyncio

        from rich.console import Console

        from cluster.errors import ConfigError
        from cluster.logging import configure_logging
        from cluster.sim import ExchangeSimulator, FaultConfig, SimConfig

        configure_logging("INFO")
        try:
            faults = FaultConfig.model_validate(dict(kv.split("=", 1) for kv in (fault or [])))
            cfg = SimConfig(exchange=exchange, speed=speed, host=host, port=port, trades_file=trades,  # type: ignore[arg-type]
                            trades_symbol=trades_symbol, klines_dir=klines, faults=faults)
        except ValueError as exc:
            raise ConfigError(f"invalid simulator option: {exc}") from exc
        console = Console(stderr=True)

        async def main() -> None:
            server = ExchangeSimulator(cfg)
            await server.start()
            console.print(f"[green]sim {cfg.exchange}[/] REST {server.rest_url}  WS {server.ws_url}  "
                          f"symbols: {', '.join(server.state.dataset.symbols())}")
            console.print(f"point coinray at it: coinray ingest stream --exchange {cfg.exchange} "
                          f"--url {cfg.exchange}={server.rest_url} --symbols ...   (Ctrl-C stops)")
            try:
                await asyncio.Event().wait()
            finally:
                await server.stop()

        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            console.print("sim stopped")
