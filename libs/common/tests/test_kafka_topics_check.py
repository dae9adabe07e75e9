"""Against the dev broker (Tansu): every client is built by `client_kwargs` and still speaks
PLAINTEXT there, and with KAFKA_CREATE_TOPICS=false start-up checks the topics instead of
creating them, failing with the names of the missing ones.

Tansu 0.6.0 (the dev broker) has no TLS or SASL we can test against: `--cert` and `--key` are
refused together (with `--cert` alone the listener stays plain), and with `--authentication` a
SCRAM user can be created only through the broker itself, which then refuses the unauthenticated
request; users live in the storage engine, and this build has only memory and S3 storage."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from vas_common.app import ServiceSpec, create_service_app
from vas_common.events.topics import ALL_TOPICS, Topic
from vas_common.kafka import MissingTopics, check_topics, client_kwargs, ensure_topics
from vas_common.settings import ServiceSettings
from vas_devstack.broker import EmbeddedBroker
from vas_devstack.pytest_plugin import serve, service_settings_kwargs


def _settings(database: str, bootstrap: str, **kwargs: object) -> ServiceSettings:
    return ServiceSettings(service_name="probe", **service_settings_kwargs(database, bootstrap), **kwargs)


async def test_plaintext_through_the_builder(database: str, kafka: EmbeddedBroker) -> None:
    settings = _settings(database, kafka.bootstrap)
    topic = Topic(f"probe.{uuid.uuid4().hex[:8]}")
    await ensure_topics(settings, [topic])
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic.name, b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic.name, **client_kwargs(settings), auto_offset_reset="earliest")
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert record.value == b"hello"


async def test_check_names_each_missing_topic_and_passes_once_they_exist(
    database: str, kafka: EmbeddedBroker
) -> None:
    settings = _settings(database, kafka.bootstrap, kafka_create_topics=False)
    present, absent = Topic(f"probe.{uuid.uuid4().hex[:8]}"), Topic(f"probe.{uuid.uuid4().hex[:8]}")
    await ensure_topics(settings, [present])
    with pytest.raises(MissingTopics) as raised:
        await check_topics(settings, [present, absent])
    assert raised.value.missing == [absent.name, absent.dead_letter]
    assert absent.name in str(raised.value)
    await check_topics(settings, [present])
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        assert absent.name not in await admin.list_topics(), "asking about a topic must not create it"
    finally:
        await admin.close()


async def test_start_up_without_topic_creation_fails_on_missing_topics(
    database: str, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    (tmp_path / "migrations").mkdir()
    settings = _settings(database, own_broker.bootstrap, kafka_create_topics=False)
    spec = ServiceSpec(title="probe", version="0", migrations_dir=tmp_path / "migrations")
    with pytest.raises(MissingTopics) as raised:
        async with serve(create_service_app(settings, spec)):
            pass
    assert set(raised.value.missing) == {n for t in ALL_TOPICS for n in (t.name, t.dead_letter)}
    await ensure_topics(settings, ALL_TOPICS)  # as Strimzi's topic operator would
    async with serve(create_service_app(settings, spec)) as client:
        assert (await client.get("/readyz")).status_code == 200
