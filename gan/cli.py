"""What every command line entry point shares: one clear line and exit code 2 for a user's mistake, never a
traceback; logging to stderr so stdout stays clean for output such as `gan.evaluate --json`."""
from __future__ import annotations

import logging
import sys
from typing import Callable

from gan.errors import GanInputError, TrainingDiverged

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3


def run_main(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return main(argv) or 0
    except GanInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_DIVERGED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
