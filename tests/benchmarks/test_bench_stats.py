"""The benchmark's counting and percentile code, by plain calls (no sockets, no generator)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from benchmarks.report import (
    Results,
    cluster_targets,
    limits_of_unmet,
    ngircd_targets,
    row,
    rss_levelled_off,
    steps_of,
    web_targets,
)
from benchmarks.run import step_dict
from benchmarks.stats import (
    BUCKETS,
    Step,
    bucket_bounds,
    bucket_of,
    histogram_of,
    knee,
    median_ratio,
    percentile,
)

from benchmarks import asyncio_floor


def make_step(
    *,
    rate: float = 100.0,
    sent: int = 100,
    fanout: int = 9,
    received: int | None = None,
    on_time: int | None = None,
    closed: int = 0,
    latencies_us: list[int] | None = None,
    generator_cpu: float = 0.1,
) -> Step:
    expected = sent * fanout
    return Step(
        rate=rate,
        seconds=1.0,
        sent=sent,
        fanout=fanout,
        received=expected if received is None else received,
        received_on_time=expected if on_time is None else on_time,
        closed=closed,
        generator_cpu=generator_cpu,
        send_wall=1.0,
        server_cpu=0.5,
        server_rss_kb=1000,
        histogram=histogram_of(latencies_us if latencies_us is not None else [1000] * 100),
    )


def test_small_latencies_have_a_bucket_each() -> None:
    """Below 64 µs every microsecond is its own bucket."""
    assert [bucket_of(us) for us in range(64)] == list(range(64))
    assert all(bucket_bounds(us) == (us, us + 1) for us in range(64))


@pytest.mark.parametrize("us", [64, 65, 100, 1000, 4095, 4096, 123_456, 10**9])
def test_a_latency_falls_within_its_buckets_bounds(us: int) -> None:
    """Every latency lies in [low, high) of the bucket it is counted in."""
    low, high = bucket_bounds(bucket_of(us))
    assert low <= us < high


def test_buckets_are_at_most_about_three_percent_wide() -> None:
    """Above 64 µs a bucket spans at most 1/32 of its lower bound."""
    for index in range(64, BUCKETS):
        low, high = bucket_bounds(index)
        assert (high - low) / low <= 1 / 32


def test_buckets_are_contiguous() -> None:
    """Each bucket starts where the previous one ends: no latency is lost between them."""
    for index in range(1, BUCKETS):
        assert bucket_bounds(index)[0] == bucket_bounds(index - 1)[1]


def test_percentile_of_an_empty_histogram_is_none() -> None:
    """No samples, no percentile."""
    assert percentile({}, 99) is None


def test_percentile_rejects_out_of_range_quantiles() -> None:
    """A percentile outside (0, 100] is a mistake of the caller."""
    with pytest.raises(ValueError, match="percentile"):
        percentile({1: 1}, 0)


def test_percentiles_of_a_uniform_spread_are_close_to_exact() -> None:
    """p50, p99 and p99.9 of 1..10000 µs come out within a bucket's width (~3%)."""
    histogram = histogram_of(range(1, 10_001))
    for q, exact_ms in ((50, 5.0), (99, 9.9), (99.9, 9.99)):
        measured = percentile(histogram, q)
        assert measured is not None
        assert measured == pytest.approx(exact_ms, rel=0.035)


def test_p99_sees_a_one_percent_tail() -> None:
    """With 2% of samples at 50 ms, p99 is about 50 ms while p50 stays at 1 ms."""
    histogram = histogram_of([1000] * 98 + [50_000] * 2)
    assert percentile(histogram, 50) == pytest.approx(1.0, rel=0.035)
    assert percentile(histogram, 99) == pytest.approx(50.0, rel=0.035)


def test_expected_deliveries_are_messages_times_fanout() -> None:
    """Every message is owed to every other active connection."""
    assert make_step(sent=100, fanout=9).expected == 900


def test_missing_counts_what_never_arrived() -> None:
    """Missing deliveries are those owed but not received by the end of the grace period."""
    step = make_step(sent=100, fanout=9, received=890)
    assert step.missing == 10
    assert make_step(sent=100, fanout=9).missing == 0


def test_backlog_is_what_had_not_arrived_when_the_drain_window_closed() -> None:
    """Deliveries that arrived late but arrived are a backlog, not missing."""
    step = make_step(sent=100, fanout=9, on_time=800)
    assert step.backlog
    assert step.missing == 0


def test_deliveries_per_second_is_rate_times_fanout() -> None:
    """The offered load counts deliveries, not messages."""
    assert make_step(rate=1000, fanout=999).deliveries_per_second == 999_000


def test_a_step_with_high_p99_is_past_the_knee() -> None:
    """p99 above the limit puts a step past the knee."""
    assert make_step(latencies_us=[1000] * 100).under_knee(100)
    assert not make_step(latencies_us=[150_000] * 100).under_knee(100)


def test_a_step_with_backlog_or_closed_connections_is_past_the_knee() -> None:
    """Low latency does not count if deliveries were late or connections were cut."""
    assert not make_step(on_time=10).under_knee()
    assert not make_step(closed=1).under_knee()


def test_knee_is_the_highest_load_under_the_limit() -> None:
    """The knee is the fastest qualifying step, even if a slower one failed by noise."""
    steps = [
        make_step(rate=100),
        make_step(rate=200, latencies_us=[200_000] * 10),
        make_step(rate=400),
        make_step(rate=800, on_time=0),
    ]
    found = knee(steps)
    assert found is not None
    assert found.rate == 400


def test_knee_is_none_when_no_step_qualifies() -> None:
    """A server past the limit at the lowest load has no knee."""
    assert knee([make_step(latencies_us=[500_000])]) is None


def test_generator_saturation_is_flagged_above_nine_tenths_of_a_core() -> None:
    """A generator using more than 0.9 of a core may have been the bottleneck."""
    assert make_step(generator_cpu=0.95).generator_saturated
    assert not make_step(generator_cpu=0.5).generator_saturated


def test_median_ratio_takes_the_median_of_per_round_ratios() -> None:
    """Ratios are per round, then the median; rounds missing a figure are skipped."""
    assert median_ratio([(10, 1), (30, 10), (8, 2), (None, 1), (5, None)]) == 4.0
    assert median_ratio([(1, 0)]) is None


def test_a_generator_report_is_read_into_a_step() -> None:
    """The generator's JSON line for a step becomes a Step with its histogram."""
    report: dict[str, Any] = {
        "rate": 100.0,
        "seconds": 1.0,
        "sent": 100,
        "fanout": 9,
        "received": 900,
        "received_on_time": 900,
        "closed": 0,
        "generator_cpu": 0.2,
        "send_wall": 1.5,
        "server_cpu": 0.4,
        "server_rss_kb": 20000,
        "hist": [[bucket_of(500), 3]],
        "rss_series": [[0.0, 20000]],
    }
    step = Step.from_report(report)
    assert step.histogram == {bucket_of(500): 3}
    assert step.rss_series == ((0.0, 20000),)
    assert step.missing == 0


def test_other_work_is_the_machines_cpu_beyond_server_and_generator() -> None:
    """Busy CPU not used by the server or the generator, per second of the step, is other work."""
    step = replace(make_step(generator_cpu=0.2), machine_cpu=1.4, wall=2.0)
    assert step.other_work == pytest.approx((1.4 - 0.5 - 0.2) / 2.0)
    assert step.overlapped_other_work


def test_a_quiet_machine_is_not_flagged() -> None:
    """A step where only the server and the generator ran is not flagged."""
    step = replace(make_step(generator_cpu=0.2), machine_cpu=0.75, wall=1.0)
    assert not step.overlapped_other_work


def test_results_without_the_machines_cpu_flag_nothing() -> None:
    """Figures from a generator that did not read /proc/stat give no other-work figure."""
    assert make_step().other_work is None
    assert not make_step().overlapped_other_work


def test_owed_deliveries_replace_sent_times_fanout() -> None:
    """With rooms, what is owed is the generator's per-room count."""
    step = replace(make_step(sent=10, fanout=9, received=80, on_time=80), owed=80)
    assert step.expected == 80
    assert step.missing == 0


def test_a_foreign_line_puts_a_step_past_the_knee() -> None:
    """A line delivered to a room it was not sent to is a failure, whatever the latency."""
    assert not replace(make_step(), foreign=1).under_knee()


def test_a_step_reads_back_from_results_json_as_it_was() -> None:
    """A step written to results.json and read back has the same histograms and figures."""
    step = replace(make_step(), lag_histogram=histogram_of([20, 30, 5000]), machine_cpu=1.0)
    assert steps_of([json.loads(json.dumps(step_dict(step)))]) == [step]


def web_round(tcp_knee_rate: float, web_knee_rate: float, web_cpu: float) -> dict[str, Any]:
    """One round of tcpchat-asyncio and tcpchat-web: an N=1000 sweep and the fixed load."""

    def entry(knee_rate: float, server_cpu: float) -> dict[str, Any]:
        sweep = [make_step(rate=knee_rate, fanout=999), make_step(rate=knee_rate * 2, closed=1)]
        fixed = replace(make_step(), server_cpu=server_cpu)
        return {
            "sweeps": {"N=1000, all send": [step_dict(s) for s in sweep]},
            "fixed": step_dict(fixed),
        }

    return {
        "tcpchat-asyncio": entry(tcp_knee_rate, 0.5),
        "tcpchat-web": entry(web_knee_rate, web_cpu),
    }


def test_websocket_targets_compare_the_web_members_with_tcp_members() -> None:
    """WebSocket rows give tcpchat-web's knee and CPU/delivery as ratios to tcpchat-asyncio's."""
    results = Results(
        {
            "servers": {"tcpchat-asyncio": "", "tcpchat-web": ""},
            "rounds": [web_round(1000, 400, 0.9)],
        }
    )
    knee_row, cpu_row = web_targets(results, "N=1000, all send")
    assert knee_row == "| WebSocket: N=1000 knee ≥ 0.5× TCP | tcpchat-web | 0.40× | **no** |"
    assert (
        cpu_row
        == "| WebSocket: CPU/delivery at N=100, 50k/s ≤ 1.5× TCP | tcpchat-web | 1.80× | **no** |"
    )


def ngircd_round(server_cpu: float, churn: float, startup_kb: int) -> dict[str, Any]:
    """One round of tcpchat-asyncio and ngIRCd: both fixed loads, churn and start-up RSS."""

    def entry(cpu: float, per_second: float, rss_kb: int) -> dict[str, Any]:
        fixed = step_dict(replace(make_step(), server_cpu=cpu))
        return {
            "n10": fixed,
            "fixed": fixed,
            "churn": {"per_second": per_second},
            "startup_rss_kb": rss_kb,
        }

    return {
        "tcpchat-asyncio": entry(server_cpu, churn, startup_kb),
        "ngircd": entry(0.5, 1000.0, 5000),
    }


def test_the_ngircd_targets_show_each_axis_as_a_ratio_met_or_not() -> None:
    """Churn, CPU per delivery and p50 are ratios to ngIRCd's; start-up RSS is in MB."""
    results = Results(
        {
            "servers": {"tcpchat-asyncio": "", "ngircd": ""},
            "rounds": [ngircd_round(0.25, 2000.0, 24_000)],
        }
    )
    rows = ngircd_targets(results, [])
    assert rows == [
        "| churn ≥ 1.0× ngIRCd's registrations/s | tcpchat-asyncio | 2.00× | yes |",
        "| CPU/delivery ≤ 1.0× ngIRCd, N=10 at 90k/s | tcpchat-asyncio | 0.50× | yes |",
        "| p50 < ngIRCd's, N=10 at 90k/s | tcpchat-asyncio | 1.00× | **no** |",
        "| CPU/delivery ≤ 1.0× ngIRCd, N=100 at 50k/s | tcpchat-asyncio | 0.50× | yes |",
        "| p50 < ngIRCd's, N=100 at 50k/s | tcpchat-asyncio | 1.00× | **no** |",
        "| start-up RSS ≤ 25 MB | tcpchat-asyncio | 24.6 MB | yes |",
    ]


def test_idle_rows_say_whether_every_connection_registered_and_compare_memory() -> None:
    """An idle run that failed shows 0 registered; RSS per connection is a ratio to ngIRCd's."""
    rounds = [ngircd_round(0.5, 1000.0, 30_000)]
    rounds[0]["tcpchat-asyncio"]["idle"] = {
        "clients": 10_000,
        "clients_wanted": 10_000,
        "bytes_per_connection": 6144.0,
    }
    rounds[0]["ngircd"]["idle"] = {
        "clients": 10_000,
        "error": "timed out",
        "clients_wanted": 10_000,
    }
    results = Results({"servers": {"tcpchat-asyncio": "", "ngircd": ""}, "rounds": rounds})
    rows = ngircd_targets(results, [])
    assert "| idle: registers all 10,000 | tcpchat-asyncio | 10,000 | yes |" in rows
    assert "| start-up RSS ≤ 25 MB | tcpchat-asyncio | 30.7 MB | **no** |" in rows
    memory = next(r for r in rows if r.startswith("| idle RSS/connection"))
    assert memory.endswith("| 6.00 KiB (–) | not measured |")  # ngIRCd's failed: no ratio


def cluster_round(local_knee_rate: float, redis_knee_rate: float) -> dict[str, Any]:
    """One round of tcpchat-asyncio and tcpchat-redis: an N=100 sweep each; in the Redis
    node's turn, N=1000 at a fixed load on one node without Redis, then on two nodes."""

    def entry(knee_rate: float) -> dict[str, Any]:
        sweep = [make_step(rate=knee_rate, fanout=99), make_step(rate=knee_rate * 2, closed=1)]
        return {"sweeps": {"N=100, all send": [step_dict(s) for s in sweep]}}

    def fixed(latency_us: int) -> dict[str, Any]:
        return step_dict(make_step(fanout=999, latencies_us=[latency_us] * 10))

    return {
        "tcpchat-asyncio": entry(local_knee_rate),
        "tcpchat-redis": entry(redis_knee_rate)
        | {"one_node": fixed(400), "cross_node": fixed(1_000)},
    }


def test_cluster_targets_compare_a_node_on_redis_with_one_without() -> None:
    """Cluster rows give the Redis node's knee as a ratio, and the cross-node p50 as a gap."""
    results = Results(
        {
            "servers": {"tcpchat-asyncio": "", "tcpchat-redis": ""},
            "rounds": [cluster_round(1000, 600)],
        }
    )
    knee_row, latency_row = cluster_targets(results, "N=100, all send", None)
    assert knee_row == (
        "| cluster: N=100 knee ≥ 0.5× one node without Redis | tcpchat-redis | 0.60× | yes |"
    )
    assert latency_row.startswith(
        "| cluster: N=1000 over 2 nodes at 50k/s, p50 ≤ one node's + 1 ms | tcpchat-redis | +0.6"
    )
    assert latency_row.endswith("| yes |")


def test_the_cross_node_row_is_the_median_of_every_pair_of_the_run() -> None:
    """Several pairs a round: the figure is the median of their differences, over every
    round, and each difference is shown."""

    def pair(one_us: int, two_us: int) -> dict[str, Any]:
        return {
            side: step_dict(make_step(fanout=999, latencies_us=[us] * 10))
            for side, us in (("one_node", one_us), ("cross_node", two_us))
        }

    rounds = [cluster_round(1000, 600), cluster_round(1000, 600)]
    rounds[0]["tcpchat-redis"]["cross_node_pairs"] = [pair(400, 1000), pair(400, 2000)]
    rounds[1]["tcpchat-redis"]["cross_node_pairs"] = [pair(500, 2100)]
    results = Results({"servers": {"tcpchat-asyncio": "", "tcpchat-redis": ""}, "rounds": rounds})
    latency_row = cluster_targets(results, None, None)[0]
    assert "| +1.58 ms, the median of 3 pairs (+0.60, +1.58, +1.60;" in latency_row
    assert latency_row.endswith("| **no** |")


def test_the_idle_row_shows_the_shapes_floor_beside_tcpchats_figure() -> None:
    """With the floor measured in the run, the idle row gives it as a ratio to ngIRCd's too."""
    rounds = [ngircd_round(0.5, 1000.0, 24_000)]
    rounds[0]["tcpchat-asyncio"]["idle"] = {"clients": 10, "bytes_per_connection": 8192.0}
    rounds[0]["ngircd"]["idle"] = {"clients": 10, "bytes_per_connection": 4096.0}
    results = Results(
        {
            "servers": {"tcpchat-asyncio": "", "ngircd": ""},
            "rounds": rounds,
            "idle_floor": {"asyncio": 6144.0},
        }
    )
    memory = next(r for r in ngircd_targets(results, []) if r.startswith("| idle RSS"))
    assert "| 8.00 KiB (2.00×); the shape's floor: 6.00 KiB (1.50×) | **no** |" in memory


def test_the_shapes_floor_is_measured_for_each_loop_in_a_process_of_its_own() -> None:
    """A bare start_server holding idle connections grows by a positive, bounded amount each."""
    floors = asyncio_floor.floors(500)
    assert "asyncio" in floors
    for per in floors.values():
        assert 0 < per < 64 * 1024


def test_each_unmet_target_against_ngircd_says_what_limits_it() -> None:
    """A target not met gets a note naming its limit; a met one gets none."""
    rows = [
        "| churn ≥ 1.0× ngIRCd's registrations/s | tcpchat-asyncio | 0.30× | **no** |",
        "| p50 < ngIRCd's, N=10 at 90k/s | tcpchat-asyncio | 0.80× | yes |",
        "| start-up RSS ≤ 25 MB | tcpchat-asyncio | 27.8 MB | **no** |",
    ]
    notes = limits_of_unmet(rows)
    assert len(notes) == 2
    assert notes[0].startswith("- churn ≥ 1.0× ngIRCd's registrations/s (tcpchat-asyncio, 0.30×): ")
    assert "Registration churn" in notes[0]
    assert "`ssl`" in notes[1]


def test_a_ratio_of_two_nominal_steps_is_judged_as_the_steps_are() -> None:
    """3.2M against 6.4M, each measured back a few parts per million low, is 0.5×: met."""
    ratio = 3_199_996.8 / 6_400_003.5
    assert row("knee ≥ 0.5×", "s", "0.50×", ratio, 0.5).endswith("| yes |")
    assert row("knee ≥ 0.5×", "s", "0.49×", 0.49, 0.5).endswith("| **no** |")


MIB = 1024  # the RSS samples are in KiB


def test_rss_that_rises_once_past_the_middle_and_holds_has_levelled_off() -> None:
    """The stalled reader's queue filling until it is cut off, 8 to 10 s into 20 (the
    IRC port's figures in one run: the half after the 10th second peaks 1.1 MiB over
    the half before)."""
    series = [29_184] * 8 + [29_594, 30_822] + [31_949] * 10
    assert rss_levelled_off(series)


def test_rss_that_grows_to_the_end_has_not_levelled_off() -> None:
    """A server that keeps every line it cannot send: about 1 MB more a second."""
    assert not rss_levelled_off([(28 + second) * MIB for second in range(20)])


def test_rss_that_jumps_in_the_last_third_has_not_levelled_off() -> None:
    assert not rss_levelled_off([28 * MIB] * 15 + [31 * MIB] * 5)
    assert not rss_levelled_off([])
