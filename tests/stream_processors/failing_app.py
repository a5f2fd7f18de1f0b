"""A worker whose batch handler fails: run by test_batches.py as `python failing_app.py worker`."""

from __future__ import annotations

import os

from cartsim.stream_processors.batches import App, Records

app = App(
    os.environ["TEST_APP_ID"],
    broker=f"kafka://{os.environ['TEST_BOOTSTRAP']}",
    store="memory://",
    consumer_auto_offset_reset="earliest",
    web_enabled=False,
    broker_session_timeout=2,
    broker_heartbeat_interval=0.5,
    broker_rebalance_timeout=4,
)
topic = app.topic("events", key_type=bytes, value_type=bytes)


@app.batches(topic)
async def fail(records: Records) -> None:
    raise RuntimeError(f"handler failed on {sum(map(len, records.values()))} records")


if __name__ == "__main__":
    app.main()
