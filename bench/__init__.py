"""Benchmarks: a workload driver that speaks only the client-server API.

The same scenarios run against this homeserver (SQLite and PostgreSQL) and
against Synapse (from PyPI, in its own virtualenv, on the same database
backends), one server after the other, and the results are compared.

Modules:
    driver     -- a small typed aiohttp client for the client-server API.
    scenarios  -- one async function per scenario: samples, errors, validity.
    servers    -- start and stop each server on a free loopback port.
    report     -- JSON results, the Markdown table, the PNG plots.
    run        -- the command line: ``python3 -m bench.run --profile quick``.

Nothing here is imported by the homeserver or by the test suite; timing is
only reported, never asserted.
"""
