"""Fixtures of the fault suite.

fault_kafka  (session) a broker of its own, for tests that pause or restart it: on
             SEGSYNC_FAULTS_KAFKA_PORT if set, else the first free of 29192, 29202, ...;
             stopped (data removed) at the end of the session.
fault_pg     (session) the same for PostgreSQL (SEGSYNC_FAULTS_PG_PORT; 54399, 54409, ...).
fault_pg_url a fresh database on fault_pg.
fault_topics topic factory on fault_kafka.
Tests using these are marked `integration`, like those of the shared services.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TypeVar

import pytest
from kafka.admin import KafkaAdminClient

from tests.support.faults_services import FaultKafka, FaultPg
from tests.support.kafka_io import TopicFactory, delete_topics, topic_maker
from tests.support.services import ServiceError, create_database, drop_database

_FAULT_FIXTURES = frozenset({"fault_kafka", "fault_pg", "fault_pg_url", "fault_topics"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if set(getattr(item, "fixturenames", ())) & _FAULT_FIXTURES:
            item.add_marker(pytest.mark.integration)


S = TypeVar("S", FaultKafka, FaultPg)


def _running(svc: S, what: str) -> Iterator[S]:
    """Start one of the suite's own services for the session; fail (never skip) if it cannot."""
    try:
        svc.start()
    except ServiceError as exc:
        svc.close()
        pytest.fail(f"the fault suite's own {what} did not start:\n{exc}", pytrace=False)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture(scope="session")
def fault_kafka() -> Iterator[FaultKafka]:
    yield from _running(FaultKafka(), "broker")


@pytest.fixture(scope="session")
def fault_pg() -> Iterator[FaultPg]:
    yield from _running(FaultPg(), "PostgreSQL")


@pytest.fixture
def fault_pg_url(fault_pg: FaultPg) -> Iterator[str]:
    fault_pg.resume()
    name, url = create_database(fault_pg.server_url)
    yield url
    fault_pg.resume()
    if os.environ.get("SEGSYNC_FAULTS_KEEP") == "1":
        print(f"\nSEGSYNC_FAULTS_KEEP=1: database kept: {url}")
        return
    with contextlib.suppress(Exception):
        drop_database(fault_pg.server_url, name)


@pytest.fixture
def fault_topics(fault_kafka: FaultKafka) -> Iterator[TopicFactory]:
    admin = KafkaAdminClient(bootstrap_servers=fault_kafka.bootstrap, client_id="faults-admin")
    created: list[str] = []
    try:
        yield topic_maker(admin, created)
    finally:
        fault_kafka.resume()
        delete_topics(admin, created)
        admin.close()
