"""The flush gate: passes at once while the loop is quiet, spaced while it is busy."""

from __future__ import annotations

import pytest

from tcpchat.core.pacing import BUSY_SAMPLE_SECONDS, FlushGate

WINDOW = 0.0005
SAMPLE = BUSY_SAMPLE_SECONDS


class FakeCpu:
    """The loop thread's CPU clock, moved by the test; counts how often it is read."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.seconds


def gate(cpu: FakeCpu) -> FlushGate:
    return FlushGate(cpu, window=WINDOW, enter_share=0.5, leave_share=0.2, sample_seconds=SAMPLE)


def sample(flush_gate: FlushGate, cpu: FakeCpu, start: float, share: float) -> float:
    """Passes every 0.1 ms for one sample from ``start``, the loop busy ``share`` of it;
    returns when the sample ended."""
    now = start
    flush_gate.passed(now)
    while now < start + SAMPLE:
        now += 0.0001
        cpu.seconds += 0.0001 * share
        flush_gate.passed(now)
    return now


def test_a_quiet_gate_flushes_at_once() -> None:
    """A new gate, or one that has only seen a quiet loop, runs every pass at once."""
    cpu = FakeCpu()
    flush_gate = gate(cpu)
    assert flush_gate.due(1.0) == 1.0
    sample(flush_gate, cpu, 1.0, 0.3)
    assert not flush_gate.busy
    assert flush_gate.due(1.03) == 1.03


def test_a_busy_loop_spaces_passes_by_the_window() -> None:
    """Past the share to enter, a pass asked for soon after the last one waits for the window."""
    cpu = FakeCpu()
    flush_gate = gate(cpu)
    end = sample(flush_gate, cpu, 1.0, 0.8)
    assert flush_gate.busy
    assert flush_gate.due(end + 0.0001) == pytest.approx(end + WINDOW)


def test_a_busy_gate_runs_a_pass_at_once_after_a_pause() -> None:
    """Even while busy, a pass asked for a window or more after the previous one runs at once."""
    cpu = FakeCpu()
    flush_gate = gate(cpu)
    end = sample(flush_gate, cpu, 1.0, 0.8)
    assert flush_gate.busy
    assert flush_gate.due(end + WINDOW) == end + WINDOW
    assert flush_gate.due(end + 0.01) == end + 0.01


def test_the_gate_stays_busy_between_the_two_shares() -> None:
    """Hysteresis: once busy, a share between the one to leave and the one to enter keeps it so."""
    cpu = FakeCpu()
    flush_gate = gate(cpu)
    end = sample(flush_gate, cpu, 1.0, 0.8)
    end = sample(flush_gate, cpu, end, 0.3)
    assert flush_gate.busy


def test_the_gate_leaves_busy_below_the_share_to_leave() -> None:
    """A sample below the share to leave makes passes run at once again."""
    cpu = FakeCpu()
    flush_gate = gate(cpu)
    end = sample(flush_gate, cpu, 1.0, 0.8)
    end = sample(flush_gate, cpu, end, 0.1)
    assert not flush_gate.busy
    assert flush_gate.due(end + 0.0001) == end + 0.0001


def test_by_default_a_load_fallen_to_a_fifth_of_a_core_flushes_at_once_again() -> None:
    """With the default shares, a server that was busy and now uses 0.22 core stops spacing."""
    cpu = FakeCpu()
    flush_gate = FlushGate(cpu)
    end = sample(flush_gate, cpu, 1.0, 0.8)
    assert flush_gate.busy
    sample(flush_gate, cpu, end, 0.22)
    assert not flush_gate.busy


def test_a_long_quiet_spell_ends_busy_at_the_next_pass() -> None:
    """A pass after a long quiet spell closes a sample whose share is low: back to at once."""
    cpu = FakeCpu()
    flush_gate = gate(cpu)
    end = sample(flush_gate, cpu, 1.0, 0.8)
    cpu.seconds += 0.001
    flush_gate.passed(end + 1.0)
    assert not flush_gate.busy


def test_the_cpu_clock_is_read_once_a_sample_not_once_a_pass() -> None:
    """The loop's CPU time costs a system call: it is read when a sample ends, not every pass."""
    cpu = FakeCpu()
    flush_gate = gate(cpu)
    sample(flush_gate, cpu, 1.0, 0.8)
    assert cpu.reads == 2  # the sample's start and its end, over 201 passes


def test_the_gate_refuses_limits_that_make_no_sense() -> None:
    """A negative window, a way out above the way in, or an empty sample is refused."""
    with pytest.raises(ValueError, match="window"):
        FlushGate(window=-0.001)
    with pytest.raises(ValueError, match="leave"):
        FlushGate(enter_share=0.2, leave_share=0.5)
    with pytest.raises(ValueError, match="sample"):
        FlushGate(sample_seconds=0)
