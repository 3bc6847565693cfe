"""structlog set-up: pretty in a terminal, JSON lines otherwise (or when asked).

Workflow code never logs through this: it uses ``workflow.logger`` (replay-safe).
"""

from __future__ import annotations

import logging
import sys

import structlog


def logs_off_stdout() -> None:
    """A command's data goes to stdout (JSON, exports): log lines go to stderr.

    structlog's default logger prints to stdout, so a warning from the client layer would
    land inside ``cellpath audit export | jq``. Commands that do not run a service call this
    first; once logging is set up (a service, a test run), it is left as it is.
    """
    if not structlog.is_configured():
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))


def configure_logging(fmt: str = "auto", level: int = logging.INFO) -> None:
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=processors, processor=renderer)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Temporal's own loggers are chatty at INFO; their warnings still show.
    logging.getLogger("temporalio").setLevel(logging.WARNING)
