"""The secured second broker (tests/support/secure_kafka.py), once per session.

It runs the jars that scripts/kafka.sh resolves, so it asks for `kafka_bootstrap` first
(the main broker's start resolves them). It fails the tests that need it, never skips.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.kafka_io import TopicFactory, delete_topics, topic_maker
from tests.support.secure_kafka import SecureBroker, SecureKafka
from tests.support.services import ServiceError


@pytest.fixture(scope="session")
def secure_broker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecureBroker]:
    run_dir: Path = tmp_path_factory.mktemp("secure-kafka")
    broker = SecureKafka(run_dir)
    try:
        info = broker.start()
    except ServiceError as exc:
        error = str(exc)
        info = None
    if info is None:
        pytest.fail(f"the secure test broker did not start:\n{error}", pytrace=False)
    try:
        yield info
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def secure_admin(secure_broker: SecureBroker) -> Iterator[Any]:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=secure_broker.plaintext, client_id="segsync-tests-secure-admin"
    )
    try:
        yield admin
    finally:
        admin.close()


@pytest.fixture
def secure_topics(secure_admin: Any) -> Iterator[TopicFactory]:
    created: list[str] = []
    yield topic_maker(secure_admin, created)
    delete_topics(secure_admin, created)
