from __future__ import annotations

import itertools
import os
from typing import Iterator

# Before gRPC loads: the tests start sidecars with subprocess, and on Python 3.9 (whose
# subprocess forks) gRPC's fork handlers abort some children while grpc.aio's event engine
# runs (13 of 150 starts in a loop here). The tests fork only to exec the sidecar, which
# needs no gRPC state in the child.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import pytest  # noqa: E402

import sessionstore_client as ss  # noqa: E402

from sidecar import Sidecar

# helpers.py holds shared asserts: let pytest explain their failures too.
pytest.register_assert_rewrite("helpers")

_ids = itertools.count(1)


@pytest.fixture
def new_id(request: pytest.FixtureRequest):
    """Unique conversation ids per test, so tests sharing a sidecar never collide."""
    return lambda label="c": f"{request.node.name[:40].replace('[', '.').replace(']', '')}.{label}-{next(_ids)}"


def _serve(args=()) -> Iterator[Sidecar]:
    sidecar = Sidecar(args)
    yield sidecar
    assert sidecar.stop() == 0, "the sidecar did not exit cleanly on SIGTERM"


@pytest.fixture(scope="session")
def sidecar() -> Iterator[Sidecar]:
    yield from _serve()


@pytest.fixture(scope="module")
def plan_sidecar() -> Iterator[Sidecar]:
    """The plan's limits made short enough to test: 3 resumes, a 2 s resume window."""
    yield from _serve(["--max-resume-attempts", "3", "--max-resume-age", "2s"])


@pytest.fixture(scope="module")
def overload_sidecar() -> Iterator[Sidecar]:
    """A 20 ms queue timeout: a burst of writes cannot all commit within it, so some are shed as OVERLOADED."""
    yield from _serve(["--update-queue-timeout", "20ms"])


@pytest.fixture
def own_sidecar() -> Iterator[Sidecar]:
    """A sidecar for one test: restarting it, or cleaning it up, touches no other test."""
    yield from _serve()


def _stub(sidecar: Sidecar) -> Iterator[ss.SessionStoreServiceStub]:
    channel = ss.open_channel(sidecar.address)
    yield ss.SessionStoreServiceStub(channel)
    channel.close()


@pytest.fixture
def stub(sidecar: Sidecar) -> Iterator[ss.SessionStoreServiceStub]:
    yield from _stub(sidecar)


@pytest.fixture
def plan_stub(plan_sidecar: Sidecar) -> Iterator[ss.SessionStoreServiceStub]:
    yield from _stub(plan_sidecar)


@pytest.fixture
def overload_stub(overload_sidecar: Sidecar) -> Iterator[ss.SessionStoreServiceStub]:
    yield from _stub(overload_sidecar)
