"""Reading wrk's report, and the Lua scripts the API benchmark gives it (bench/_wrk.py)."""

from __future__ import annotations

import pytest

from bench._wrk import create_script, get_script, parse_report

REPORT = """Running 1s test @ https://127.0.0.1:40123
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.17ms    1.25ms  28.82ms   89.27%
    Req/Sec    13.08k     3.62k   15.64k   100.00%
  Latency Distribution
     50%  812.00us
     75%    3.32ms
     90%    4.38ms
     99%    1.10s
  13001 requests in 1.00s, 9.64MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  13001.00
Transfer/sec:      9.64MB
"""


def test_the_report_gives_count_time_percentiles_and_errors() -> None:
    report = parse_report(REPORT)
    assert (report.requests, report.seconds) == (13001, 1.0)
    assert report.p50 == pytest.approx(0.812)
    assert report.p99 == pytest.approx(1100.0)
    assert report.errors == 7


def test_a_report_without_latencies_is_refused() -> None:
    with pytest.raises(ValueError, match="not a wrk --latency report"):
        parse_report(REPORT.replace("  Latency Distribution\n     50%  812.00us\n", ""))


def test_scripts_quote_their_strings_for_lua() -> None:
    script = create_script(b'{"metadata":{"name":"NAME"},"a":"x\\\\y"}', "NAME")
    assert 'local before = "{\\"metadata\\":{\\"name\\":\\""' in script
    assert 'local after = "\\"},\\"a\\":\\"x\\\\\\\\y\\"}"' in script
    assert '"/api/v1/namespaces/big/pods/big-000001"' in get_script(
        ["/api/v1/namespaces/big/pods/big-000001"]
    )
    with pytest.raises(ValueError, match="not in the body"):
        create_script(b"{}", "NAME")
