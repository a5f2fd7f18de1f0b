"""Checks of a truth file: its lines, its labels against the records sent, and its expected
results against an independent recount."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

from cartsim.truth import ExpectedResults, InjectedFault, TruthRun, truth_line
from tests.recount import Recount


def read_truth(path: Path) -> tuple[TruthRun, list[InjectedFault], ExpectedResults]:
    """The run line, the fault lines and the expected results, each checked for its kind."""
    run, *faults, expected = map(truth_line.validate_json, path.read_bytes().splitlines())
    assert isinstance(run, TruthRun) and isinstance(expected, ExpectedResults)
    labelled = [fault for fault in faults if isinstance(fault, InjectedFault)]
    assert len(labelled) == len(faults)
    return run, labelled, expected


def assert_labels(sent: list[bytes], faults: list[InjectedFault]) -> None:
    """Each fault names the record at its sequence: by its bytes' hash, or by its event id."""
    for fault in faults:
        record = sent[fault.sequence]
        if fault.fault == "malformed":
            assert hashlib.sha256(record).hexdigest() == fault.sha256
        else:
            assert orjson.loads(record)["event_id"] == fault.event_id


def assert_recounted(got: ExpectedResults, want: Recount) -> None:
    assert (got.event_types, got.sources, got.devices) == (
        dict(want.event_type),
        dict(want.source),
        dict(want.device),
    )
    funnel = got.funnel
    assert (funnel.sessions, funnel.viewed, funnel.added_to_cart) == (
        want.funnel["session"],
        want.funnel["viewed"],
        want.funnel["added"],
    )
    assert (funnel.began_checkout, funnel.purchased) == (
        want.funnel["checkout"],
        want.funnel["purchased"],
    )
    assert (got.revenue_vnd, got.orders) == (want.revenue_vnd, want.orders)
    assert got.abandoned_sessions == len(want.abandoned)
