"""What a simultaneous A/B of two servers concludes from its rounds (bench/abtest.py)."""

from __future__ import annotations

import pytest

from bench._wrk import WrkReport
from bench.abtest import Round, rate, summary


def report(requests: int, seconds: float = 2.0) -> WrkReport:
    return WrkReport(requests=requests, seconds=seconds, p50=1.0, p99=2.0, errors=0)


def test_a_round_compares_rates_not_counts() -> None:
    assert rate(report(3000, 3.0)) == 1000.0
    assert Round(report(2000, 2.0), report(3300, 3.0)).ratio == pytest.approx(1.1)


@pytest.mark.parametrize(
    ("news", "verdict"),
    [
        ((1100, 1150, 1080), "new is faster"),
        ((900, 940, 920), "new is slower"),
        ((1100, 950, 1000), "no difference this test can see"),  # mean inside the A/A band
    ],
)
def test_the_verdict_reads_the_mean_ratio_against_what_the_same_code_reads(
    news: tuple[int, ...], verdict: str
) -> None:
    line = summary([Round(report(1000), report(n)) for n in news])
    assert line.endswith(verdict), line
    assert f"n={len(news)}" in line
