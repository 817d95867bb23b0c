"""``python -m acquisition.agent --config FILE`` (console script ``bms-agent``).

Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 2 for a bad configuration file (the message
names the key and the file; no traceback), 1 for anything unexpected.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from .config import ConfigError, load_local


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bms-agent", description="Battery monitoring edge agent")
    parser.add_argument("--config", required=True, help="TOML configuration file")
    args = parser.parse_args(argv)
    try:
        local = load_local(args.config)
        local.state_dir.mkdir(parents=True, exist_ok=True)
    except ConfigError as exc:
        print(f"bms-agent: configuration error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"bms-agent: configuration error: {args.config}: state_dir: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=local.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # pymodbus logs every unanswered request as an error; the agent reports silence itself.
    logging.getLogger("pymodbus").setLevel(
        logging.DEBUG if local.log_level == "DEBUG" else logging.CRITICAL
    )

    from .runtime import Agent

    try:
        agent = Agent(local)
    except OSError as exc:
        print(f"bms-agent: cannot start: {exc}", file=sys.stderr)
        return 1

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("acquisition.agent").info("%s received", signal.Signals(signum).name)
        agent.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return agent.run()
    except OSError as exc:
        logging.getLogger("acquisition.agent").error("cannot run: %s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
