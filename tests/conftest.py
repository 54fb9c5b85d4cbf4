"""Fixtures for real services: a Kafka broker and a PostgreSQL server (see
tests/support/services.py for where they come from), fresh topics and fresh databases.

Session scope:
    kafka_bootstrap -> "127.0.0.1:<port>"
    kafka_admin     -> a KafkaAdminClient on it
    pg_server_url   -> "postgresql+psycopg://segsync@127.0.0.1:<port>/segsync"
Function scope:
    topic_factory(name_prefix="t", partitions=3) -> name of a new topic (deleted afterwards)
    pg_url          -> URL of a new, empty database (dropped afterwards)
    sqlite_url      -> "sqlite:///<tmp_path>/state.sqlite"
    db_url          -> parametrized: sqlite_url ("sqlite") and pg_url ("postgresql")

A service that cannot start fails the tests that need it (with its log tail); it never
skips them. Tests that use any of these services are marked `integration` automatically,
so `pytest -m 'not integration'` runs without a broker or a database server.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.kafka_io import TopicFactory, delete_topics, topic_maker
from tests.support.services import ServiceError, Services, create_database, drop_database

_SERVICE_FIXTURES = frozenset(
    {"kafka_bootstrap", "kafka_admin", "topic_factory", "pg_server_url", "pg_url"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params: dict[str, Any] = callspec.params if callspec is not None else {}
        if names & _SERVICE_FIXTURES or params.get("db_url") == "postgresql":
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    try:
        svc = Services.from_env()
    except ServiceError as exc:
        error = str(exc)
        svc = None
    if svc is None:
        pytest.fail(error, pytrace=False)
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(services: Services) -> str:
    try:
        return services.kafka_bootstrap()
    except ServiceError as exc:
        error = str(exc)
    pytest.fail(f"Kafka is not available ({services.mode}):\n{error}", pytrace=False)


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> Iterator[Any]:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="segsync-tests-admin")
    try:
        yield admin
    finally:
        admin.close()


@pytest.fixture(scope="session")
def pg_server_url(services: Services) -> str:
    try:
        return services.pg_server_url()
    except ServiceError as exc:
        error = str(exc)
    pytest.fail(f"PostgreSQL is not available ({services.mode}):\n{error}", pytrace=False)


@pytest.fixture
def topic_factory(kafka_admin: Any) -> Iterator[TopicFactory]:
    created: list[str] = []
    yield topic_maker(kafka_admin, created)
    delete_topics(kafka_admin, created)


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    try:
        name, url = create_database(pg_server_url)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        name = url = ""
    if not name:
        pytest.fail(f"could not create a test database on {pg_server_url}: {error}", pytrace=False)
    yield url
    try:
        drop_database(pg_server_url, name)
    except Exception as exc:
        warnings.warn(f"could not drop test database {name}: {exc}", stacklevel=1)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.sqlite'}"


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(fixture)
    return url
