"""A command's stdout carries data only: log lines from the client layer go to stderr."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import structlog
from client.logs import logs_off_stdout
logs_off_stdout()
structlog.get_logger().warning("pathway did not answer", pathway="CTX-1")
print('{"data": 1}')
"""


def test_log_lines_never_mix_with_a_commands_data() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    assert done.stdout == '{"data": 1}\n'
    assert "pathway did not answer" in done.stderr


def test_the_cli_sets_it_before_any_command() -> None:
    script = "import structlog\nfrom cli.app import main\nmain()\nprint(structlog.is_configured())"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout == "True\n"
