"""Tests on real parts: a Temporal dev server, PostgreSQL, the CLI, the demo."""
