"""The load client: Debian's `wrk`, one thread, driven by a Lua script that spreads requests
over a list of paths and reports its figures as one JSON line.

A compiled client keeps the measuring cheap on the two cores the server shares with it; a
Python client there spent as much CPU per request as the server did.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_S = 30
_MARK = "cartsim-wrk "

# `done` runs once at the end; latency is in microseconds, over the requests that completed.
_SCRIPT = """\
local paths = {%(paths)s}
math.randomseed(%(seed)d)
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p99_us":%%d,"max_us":%%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


class WrkMissingError(RuntimeError):
    """wrk is not installed."""


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # connect, read and write errors and non-2xx answers
    timeouts: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (
            f"{self.rate:,.0f} req/s, p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, "
            f"max {self.max_ms:.0f} ms, {self.errors} errors, {self.timeouts} timeouts"
        )


def wrk() -> str:
    """Path of the wrk binary (`make bench` installs Debian's package when it is missing)."""
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissingError("bench needs wrk, the HTTP load client: apt-get install wrk")
    return found


def _lua(paths: list[str], seed: int) -> str:
    quoted = ", ".join(json.dumps(path) for path in paths)  # URL-encoded ASCII: valid Lua too
    return _SCRIPT % {"paths": quoted, "seed": seed, "mark": _MARK}


def run(url: str, paths: list[str], connections: int, seconds: float, seed: int = 1) -> Load:
    """GET random picks of `paths` from `url` over `connections` for `seconds`."""
    with tempfile.TemporaryDirectory(prefix="cartsim-wrk-") as folder:
        script = Path(folder) / "paths.lua"
        script.write_text(_lua(paths, seed))
        command = [wrk(), "-t1", f"-c{connections}", f"-d{seconds:g}s"]
        command += ["--latency", "--timeout", f"{TIMEOUT_S}s", "-s", str(script), url]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith(_MARK))
    figures = json.loads(line.removeprefix(_MARK))
    return Load(
        connections=connections,
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        max_ms=figures["max_us"] / 1000,
        errors=sum(figures[kind] for kind in ("connect", "read", "write", "status")),
        timeouts=figures["timeout"],
    )
