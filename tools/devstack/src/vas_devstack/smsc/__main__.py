"""`python -m vas_devstack.smsc`: run the SMSC simulator until SIGINT or SIGTERM.

Prints `smsc ready smpp=127.0.0.1:PORT http=http://127.0.0.1:PORT` once both listen.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from vas_devstack.smsc.simulator import ConfigError, SmscConfig, SmscSimulator, validate_outcomes


def _account(value: str) -> tuple[str, str]:
    system_id, sep, password = value.partition(":")
    if not sep or not system_id:
        raise argparse.ArgumentTypeError("expected SYSTEM_ID:PASSWORD")
    return system_id, password


def _outcomes(value: str) -> dict[str, float]:
    outcomes: dict[str, float] = {}
    for item in value.split(","):
        stat, sep, weight = item.strip().partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected STAT=WEIGHT, got {item!r}")
        try:
            outcomes[stat.strip()] = float(weight)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a number: {weight!r}") from exc
    try:
        return validate_outcomes(outcomes)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_args(argv: list[str] | None = None) -> SmscConfig:
    parser = argparse.ArgumentParser(
        prog="python -m vas_devstack.smsc", description="SMPP 3.4 SMSC simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smpp-port", type=int, default=2775, help="0 picks a free port")
    parser.add_argument("--http-port", type=int, default=8025, help="0 picks a free port")
    parser.add_argument(
        "--account",
        type=_account,
        action="append",
        metavar="SYSTEM_ID:PASSWORD",
        help="an ESME account (repeatable; default vas:vas-pass)",
    )
    parser.add_argument("--system-id", default="vas-smsc", help="the SMSC's system_id in bind responses")
    parser.add_argument("--tps", type=float, default=0.0, help="submit_sm per second per bind; 0 unlimited")
    parser.add_argument("--submit-latency-ms", type=float, default=0.0)
    parser.add_argument("--receipt-delay-ms", type=float, default=50.0)
    parser.add_argument(
        "--outcomes",
        type=_outcomes,
        default={"DELIVRD": 1.0},
        help="e.g. DELIVRD=0.9,UNDELIV=0.05,EXPIRED=0.05",
    )
    parser.add_argument("--receipt-before-resp", action="store_true")
    parser.add_argument("--drop-receipts", type=float, default=0.0, help="share of receipts never sent, 0..1")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return SmscConfig(
        host=args.host,
        smpp_port=args.smpp_port,
        http_port=args.http_port,
        accounts=dict(args.account or [("vas", "vas-pass")]),
        system_id=args.system_id,
        tps=args.tps,
        submit_latency_ms=args.submit_latency_ms,
        receipt_delay_ms=args.receipt_delay_ms,
        outcomes=args.outcomes,
        receipt_before_resp=args.receipt_before_resp,
        drop_receipts=args.drop_receipts,
        seed=args.seed,
    )


async def serve(config: SmscConfig) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    sim = SmscSimulator(config)
    await sim.start()
    try:
        print(f"smsc ready smpp={sim.smpp_address} http={sim.http_url}", flush=True)
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        asyncio.run(serve(config))
    except OSError as exc:
        print(f"smsc: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
