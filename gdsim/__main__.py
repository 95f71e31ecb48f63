"""`python -m gdsim`: run the local GuardDuty simulator in the foreground, with no Django and no settings."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Sequence

from .server import serve


def parser() -> argparse.ArgumentParser:
    """The command line `python -m gdsim` and `manage.py gdsim` share."""
    p = argparse.ArgumentParser(
        prog="gdsim", description="Run the local GuardDuty simulator (GuardDuty, STS and Organizations on one endpoint)."
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="Address to listen on: loopback unless --allow-remote (the simulator has no real auth).")
    p.add_argument("--allow-remote", action="store_true",
                   help="Allow a non-loopback --host (0.0.0.0 in a container on a private network).")
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--scenario", default=None, help="Seed a scenario (e.g. demo) into an empty state.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--persist", default=None, help="SQLite file keeping the state across restarts.")
    p.add_argument("--live", action="store_true", help="Keep producing findings and repeat occurrences.")
    p.add_argument("--tick-seconds", type=float, default=10.0)
    p.add_argument("--strict", action="store_true", help="Fail loudly on responses that break the model.")
    p.add_argument("--email-verification-seconds", type=_seconds, default=5.0,
                   help="How long GuardDuty's check of an invited member's email takes (EmailVerificationInProgress).")
    return p


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 86400 seconds")
    return value


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def main(argv: Sequence[str] | None = None) -> None:
    options = parser().parse_args(argv)
    if not _loopback(options.host) and not options.allow_remote:
        # Anyone who reaches it can read every simulated finding and sign as any account: not on a network
        # by accident.
        parser().error(f"--host {options.host} is not a loopback address; add --allow-remote to listen there.")
    serve(port=options.port, host=options.host, scenario=options.scenario, seed=options.seed,
          persist=options.persist, live=options.live, tick_seconds=options.tick_seconds,
          strict=options.strict, email_verification_seconds=options.email_verification_seconds,
          log=lambda line: print(line, flush=True))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
