"""The Faust app and its topics: declarative, configured from the one settings object.

Timeouts follow the embedded broker's measured behaviour: a group join takes half the session
timeout there, so a 2 s session makes a worker ready in about 2 s, where Faust's default 60 s
would take 30.
"""

from __future__ import annotations

import faust

from cartsim.settings import Settings, get_settings
from cartsim.storage import Layout
from cartsim.stream_processors.aggregate import Rules
from cartsim.stream_processors.batches import App
from cartsim.stream_processors.recovery import RebalanceSafeTableManager
from cartsim.stream_processors.state import declare_tables


def create_app(settings: Settings) -> App:
    bootstrap = settings.require_bootstrap()
    layout = Layout(settings.data_dir)
    layout.worker_dir.mkdir(parents=True, exist_ok=True)
    return App(
        settings.worker_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=str(layout.worker_dir),
        topic_partitions=settings.partitions,
        consumer_auto_offset_reset="earliest",
        TableManager=RebalanceSafeTableManager,
        # Recovery on Tansu is made exact by how changelog.py batches the records, not by
        # producer_max_batch_size=1, which costs a request per record.
        # A produce request whose answer has not been read in 15 s is retried; with Faust's
        # 1,200 s default one late answer would stall the worker for 20 minutes. A loop busy
        # with CPU work reads no answers, which to aiokafka looks like a broker that never
        # answered (docs/embedded-broker.md).
        producer_request_timeout=15.0,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        web_enabled=True,
        web_bind=settings.worker_host,
        web_host=settings.worker_host,
        web_port=settings.worker_port,
        canonical_url=settings.worker_url,
    )


settings = get_settings()
app = create_app(settings)
layout = Layout(settings.data_dir)


def raw_topic(name: str) -> faust.TopicT:
    """Raw bytes in and out: the agents decode with orjson only what they need."""
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )


events_topic = raw_topic(settings.topic)
abandoned_topic = raw_topic(settings.abandoned_topic)

tables = declare_tables(app, settings.partitions)

rules = Rules.of(settings)
