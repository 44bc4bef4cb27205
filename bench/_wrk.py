"""Load from wrk: a client that costs the server's cores little.

The op cells' aiohttp client spends about as much CPU on a request as the
server does on a GET, and on two cores it caps what any server can show
(the bare server: ~6,000-7,000 GETs/s through it, ~17,000/s under wrk). wrk
(C, one thread here, from Debian) is how a server's own ceiling is measured,
and how the issue's anchor ("a bare aiohttp handler serves about 20,000/s
over TLS here") can only have been. It authenticates with a bearer token
(it has no client certificates), to 127.0.0.1 only, for whole seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import resource
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WrkReport", "create_script", "get_script", "parse_report", "run_wrk", "wrk_binary"]

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


@dataclass(frozen=True, slots=True)
class WrkReport:
    requests: int
    seconds: float
    p50: float  # ms
    p99: float  # ms
    errors: int  # answers other than 2xx/3xx, and socket errors
    client_cpu: float = 0.0  # seconds wrk used


def _ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_report(text: str) -> WrkReport:
    """The figures of `wrk --latency`'s report (raises ValueError when one is missing)."""
    done = re.search(r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m|h),", text, re.M)
    p50 = re.search(r"^\s*50%\s+(\S+)$", text, re.M)
    p99 = re.search(r"^\s*99%\s+(\S+)$", text, re.M)
    if done is None or p50 is None or p99 is None:
        raise ValueError(f"not a wrk --latency report:\n{text}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
    failed = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       text)  # fmt: skip
    if failed is not None:
        errors += sum(int(n) for n in failed.groups())
    return WrkReport(
        requests=int(done[1]),
        seconds=_ms(done[2] + done[3]) / 1e3,
        p50=_ms(p50[1]),
        p99=_ms(p99[1]),
        errors=errors,
    )


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def get_script(paths: list[str]) -> str:
    """GET each of `paths` in turn (every request another object, as the op cells do)."""
    listed = ",\n".join(_lua_string(p) for p in paths)
    return f"""local paths = {{
{listed}
}}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
"""


def create_script(body: bytes, placeholder: str) -> str:
    """POST `body` with `placeholder` replaced by a name unique in this run: the
    script's first argument, then a counter."""
    before, found, after = body.decode().partition(placeholder)
    if not found:
        raise ValueError(f"{placeholder!r} is not in the body")
    return f"""local before = {_lua_string(before)}
local after = {_lua_string(after)}
local prefix = ""
local n = 0
init = function(args)
  prefix = args[1]
  -- Into wrk.headers, which holds the -H headers: a table passed to
  -- wrk.format would replace them (the token with them).
  wrk.headers["Content-Type"] = "application/json"
end
request = function()
  n = n + 1
  return wrk.format("POST", nil, nil, before .. prefix .. n .. after)
end
"""


def wrk_binary() -> str | None:
    return shutil.which("wrk")


async def run_wrk(
    url: str,
    *,
    token: str,
    script: Path,
    connections: int,
    seconds: int,
    args: tuple[str, ...] = (),
) -> WrkReport:
    """One wrk run against `url` (https://127.0.0.1:...) for `seconds` whole seconds."""
    wrk = wrk_binary()
    if wrk is None:
        raise FileNotFoundError("wrk is not installed (scripts/setup.sh installs it)")
    if not url.startswith("https://127.0.0.1:"):
        raise ValueError(f"wrk only loads 127.0.0.1, not {url}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = await asyncio.create_subprocess_exec(
        wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s",
        "-H", f"Authorization: Bearer {token}", "-s", str(script), url, "--", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited with {proc.returncode}:\n{text}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return dataclasses.replace(parse_report(text), client_cpu=cpu)
