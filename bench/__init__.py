"""cellpath benchmarks: what a pathway costs on top of bare Temporal, measured in one run.

Usage::

    make bench                                  # default sizes, ~10 minutes on 2 cores
    .venv/bin/python -m bench.run --help        # sizes, output paths

Every scenario reports a ratio against a baseline measured in the same run (the bare
workflow of ``bench/bare.py``, or a minimal chart), because absolute times depend on the
machine and on what else runs on it. Results go to ``bench/results.json`` and
``bench/results.md``; ``docs/performance.md`` explains them and records what was found.

Modules: ``run`` (the entry: every scenario in order), ``config`` (sizes and targets),
``processes`` (dev servers and worker processes), ``comparison`` (cellpath against bare,
side by side), ``scenarios`` (history and chart), ``rest`` (open pathways at rest),
``report`` (the table and the files), ``pathways``/``bare``/``chart``/``worker`` (what is
driven and measured).

Limitations: the dev server (SQLite or in memory) is the server measured; the clients, the
worker and the server share the machine, as they do in ``make run``.
"""
