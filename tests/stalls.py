"""One marker for the tests that start a real worker on the embedded broker.

A worker now and then stops making progress on Tansu 0.6.0: a produce request is never
answered, or a new changelog partition has no leader in the producer's metadata for a while
(README, "Known Tansu issue"). The cause is open. Until it is found, such a test may run up to
three times; it fails when all three fail, and every rerun is reported in pytest's summary.
"""

from __future__ import annotations

import pytest

worker_on_tansu = [pytest.mark.tansu_stall, pytest.mark.flaky(reruns=2)]
