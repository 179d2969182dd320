"""Redaction scoped per run: values go when the run ends, registering never rebuilds what came before."""

from __future__ import annotations

import asyncio
import threading

import pytest
from pydantic import SecretStr

from bots.core.logs import CHUNK_SIZE, LOOSE_VALUES, REDACTED, RedactionScope, Redactor, redaction_scope, redactor
from tests.conftest import run_async


def test_values_are_redacted_inside_their_scope_and_dropped_after() -> None:
    with redaction_scope() as run1:
        redactor.register(["Zelda Quillfeather", SecretStr("pw-run-one"), None, "ab", "  "])
        assert redactor.current is run1
        assert run1.values == {"Zelda Quillfeather", "pw-run-one"}  # None and short values ignored
        assert redactor.text("hello zelda quillfeather, pw-run-one") == f"hello {REDACTED}, {REDACTED}"
    assert run1.closed and run1.values == frozenset() and len(run1) == 0
    assert "Zelda Quillfeather" not in redactor.fallback
    assert redactor.text("Zelda Quillfeather") == "Zelda Quillfeather"  # gone, not merely hidden

    with redaction_scope() as run2:
        assert run2 is not run1 and run2.values == frozenset()
        redactor.register(["Orrin Ashgrove"])
        assert run2.values == {"Orrin Ashgrove"} and "Zelda Quillfeather" not in run2
        assert redactor.text("Zelda Quillfeather / Orrin Ashgrove") == f"Zelda Quillfeather / {REDACTED}"
    assert redactor.current is redactor.fallback


def test_a_value_registered_outside_any_scope_is_still_redacted_everywhere() -> None:
    redactor.register(["Outside Onlyvalue"])
    assert "Outside Onlyvalue" in redactor.fallback
    assert redactor.text("seen Outside Onlyvalue") == f"seen {REDACTED}"
    with redaction_scope() as run:
        assert "Outside Onlyvalue" not in run
        assert redactor.text("seen outside onlyvalue") == f"seen {REDACTED}"


def test_the_fallback_is_bounded_oldest_chunk_first() -> None:
    r = Redactor(chunk_size=4, fallback_max_values=8)
    r.register(["old-0", "old-1", "old-2", "old-3"])  # chunk 1
    r.register(["mid-1", "mid-2", "mid-3", "mid-4"])  # chunk 2
    r.register([f"new-{i}" for i in range(4)])  # chunk 3: chunk 1 goes
    assert len(r.fallback) <= 8 and r.fallback.chunks <= 2
    assert "mid-1" in r.fallback and "old-1" not in r.fallback
    assert r.text("mid-1 new-3") == f"{REDACTED} {REDACTED}"
    for i in range(1000):
        r.register([f"churn-{i}"])
    assert len(r.fallback) <= 8 and r.fallback.chunks <= 2


def test_concurrent_tasks_each_see_only_their_own_scope() -> None:
    seen: dict[str, tuple[RedactionScope, str]] = {}
    both_registered = asyncio.Event()
    barrier: list[str] = []

    async def run(name: str, value: str, other: str) -> None:
        with redaction_scope() as scope:
            redactor.register([value])
            barrier.append(name)
            if len(barrier) == 2:
                both_registered.set()
            await both_registered.wait()  # both scopes hold a value now
            # A thread started from this task (context copied) registers into the same scope.
            await asyncio.to_thread(redactor.register, [value + " via thread"])
            seen[name] = (scope, redactor.text(f"{value} | {other}"))

    async def main() -> None:
        await asyncio.gather(run("a", "Alpha Value", "Bravo Value"), run("b", "Bravo Value", "Alpha Value"))

    run_async(main())
    (scope_a, text_a), (scope_b, text_b) = seen["a"], seen["b"]
    assert scope_a is not scope_b
    assert text_a == f"{REDACTED} | Bravo Value"
    assert text_b == f"{REDACTED} | Alpha Value"
    assert "Alpha Value via thread" not in redactor.fallback and "Bravo Value" not in redactor.fallback


def test_a_plain_thread_does_not_inherit_the_scope_but_is_still_redacted() -> None:
    with redaction_scope() as run:
        worker = threading.Thread(target=redactor.register, args=(["Thread Onlyvalue"],))
        worker.start()
        worker.join()
        assert "Thread Onlyvalue" not in run and "Thread Onlyvalue" in redactor.fallback
        assert redactor.text("Thread Onlyvalue") == REDACTED


def test_a_nested_scope_registers_into_itself_and_redacts_the_enclosing_values() -> None:
    with redaction_scope() as outer:
        redactor.register(["Outer Credential"])
        with redaction_scope() as inner:
            redactor.register(["Inner Member"])
            assert inner.values == {"Inner Member"} and outer.values == {"Outer Credential"}
            assert redactor.text("Outer Credential, Inner Member") == f"{REDACTED}, {REDACTED}"
        assert redactor.current is outer and inner.closed
        assert redactor.text("Outer Credential, Inner Member") == f"{REDACTED}, Inner Member"


def test_registering_one_at_a_time_compiles_a_bounded_number_of_values() -> None:
    n = 1000
    with redaction_scope() as run:
        for i in range(n):
            redactor.register([f"acct-value-{i:04d}"])
            redactor.register([f"acct-value-{i:04d}"])  # already known: compiles nothing
        assert len(run) == n and run.chunks == -(-n // CHUNK_SIZE)
        assert run.rebuilds == n // LOOSE_VALUES  # a chunk's alternation again every few values
        assert run.compiled <= 6 * n  # a full rebuild each time would be n * (n + 1) / 2
        assert max(len(c.patterns()) for c in run._chunks) <= LOOSE_VALUES  # few patterns to search
        assert redactor.text("x acct-value-0000 y acct-value-0999 z") == f"x {REDACTED} y {REDACTED} z"


def test_a_longer_value_in_a_later_chunk_is_redacted_whole() -> None:
    with redaction_scope() as run:
        redactor.register(["Ana Maria"])
        redactor.register([f"filler-{i:03d}" for i in range(CHUNK_SIZE)])  # Ana Maria's chunk is full
        redactor.register(["Ana Maria Diaz"])
        assert run.chunks >= 2
        assert redactor.text("patient ana maria diaz, DOB unknown") == f"patient {REDACTED}, DOB unknown"
        assert redactor.text("Ana Maria Diaz") == REDACTED
        assert redactor.text("Ana Maria Lopez") == f"{REDACTED} Lopez"


@pytest.mark.parametrize("order", [["Ana Maria", "Maria Diaz"], ["Maria Diaz", "Ana Maria"]])
@pytest.mark.parametrize("chunk_size", [CHUNK_SIZE, 2])  # values matched one by one, or as one alternation
def test_overlapping_values_in_one_chunk_are_merged(order: list[str], chunk_size: int) -> None:
    r = Redactor(chunk_size=chunk_size)
    with r.scope() as run:
        r.register(order)
        assert run.rebuilds == (1 if chunk_size == 2 else 0)
        assert r.text("Ana Maria Diaz.") == f"{REDACTED}."
        assert r.text("Ana MariaAna Maria") == REDACTED  # adjacent occurrences: one marker
        r.register(["Ana Maria Diaz Ortega"])  # a longer value starting at the same place
        assert r.text("Ana Maria Diaz Ortega, Ana Maria") == f"{REDACTED}, {REDACTED}"


def test_regex_metacharacters_are_matched_literally() -> None:
    values = ["a.b*c", "p@ss(w0rd)?", "[x]+y", "back\\slash", "^$|"]
    with redaction_scope() as run:
        redactor.register(values)
        assert run.values == set(values)
        assert redactor.text("axbbc p@ssw0rd [x]y backslash") == "axbbc p@ssw0rd [x]y backslash"
        for value in values:
            assert redactor.text(f"<{value}>") == f"<{REDACTED}>", value
        assert redactor.text("plain text | and more") == "plain text | and more"


def test_the_safety_net_patterns_still_apply() -> None:
    with redaction_scope():
        text = redactor.text("born 1970-01-02, seen 3/4/2025, member ABC1234567, run r-12")
    assert text == f"born {REDACTED}, seen {REDACTED}, member {REDACTED}, run r-12"
