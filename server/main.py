"""The ``kgreason-server`` command (also ``python -m server``)."""
from __future__ import annotations

import asyncio
import logging
import sys

from server.config import ConfigError, load_config

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def main(argv: list[str] | None = None) -> int:
    try:
        config = load_config(argv)
    except ConfigError as error:
        print(f"kgreason-server: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level.upper(), format=LOG_FORMAT)
    from server.app import StartupError, serve

    try:
        return asyncio.run(serve(config))
    except StartupError as error:
        print(f"kgreason-server: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
