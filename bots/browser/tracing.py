"""Playwright traces of failed checks: the trace of a portal's browser context around a failure,
never of its sign-in, scrubbed of credentials before it is kept.

Playwright traces a whole browser context, and a portal's context is shared by every page (worker)
of the sweep, so a trace cannot be one claim's alone: a kept trace shows every page of the portal's
session while it was recording, the failed claim's steps and, with concurrency above one, its
neighbours' steps too. A `FailureTracer` records the context either only while some check is in
trouble (the default: from a check's first failed try until its last, so a failure's trace shows
its retries, which fail the same way; nothing is recorded while every check works, and recording
costs CPU), or all the time from the first sign-in on (`continuous`: a failure's trace shows its
first try too). When a check fails for good, `keep` returns what was recorded and recording starts
again; `checked` throws the recording away every so many claims, which bounds its size.

Each restart is a whole `tracing.stop()` and `tracing.start()`, not `stop_chunk()` and
`start_chunk()`: Playwright keeps a context's network log (request headers, form posts, response
bodies) across the chunks of one tracing session, so a chunk started after a sign-in would still
carry the sign-in's form post (the password, the one-time code) and the mailbox page. Nothing is
recorded while a sign-in is under way (`untraced`), and what is kept is scrubbed (`scrub_trace`):
cookie and authorization headers blanked, and the bodies of requests to the sign-in pages too, in
case one straddled a restart."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext
from playwright.async_api import Error as PlaywrightError

from bots.core.logs import get_logger

log = get_logger(__name__)

TRACE_MEDIA_TYPE = "application/zip"
SECRET_HEADERS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})
# Lines of a trace worth parsing: network entries, and any other event naming a secret header.
_WORTH_PARSING = re.compile(rb'"type":"resource-snapshot"|cookie|authorization', re.IGNORECASE)


@dataclass(frozen=True)
class _Kept:
    data: bytes  # the scrubbed zip
    ended: float  # monotonic time its recording stopped


class FailureTracer:
    """The trace of one browser context around failed checks (see the module's docstring).

    A check whose try failed and will be retried calls `hold` (recording starts, unless it is
    `continuous` and already on) and, when it ends, `release`, or `keep(since, release=True)`
    if it failed for good: its trace. `untraced` (around a sign-in) stops the recording and
    starts it again afterwards if it is still wanted. `checked` counts claims and throws the
    recording away every `rotate_claims` claims or `rotate_s` seconds while no check holds it,
    and at the latest after four times as many claims. Every call that starts or stops
    Playwright's tracing holds one lock: the pages of the context work concurrently. Tracing
    trouble is logged, never raised: it costs a trace, not a check. `close` before the context
    closes: a recording left running keeps the Playwright client collecting call stacks."""

    def __init__(
        self,
        context: BrowserContext,
        sign_in_paths: Collection[str] = (),
        *,
        continuous: bool = False,
        screenshots: bool = True,
        snapshots: bool = True,
        rotate_claims: int = 25,
        rotate_s: float = 120.0,
    ) -> None:
        self.context = context
        self.sign_in_paths = sign_in_paths  # read when a trace is kept: the login adds what it visits
        self.continuous, self.screenshots, self.snapshots = continuous, screenshots, snapshots
        self.rotate_claims, self.rotate_s = rotate_claims, rotate_s
        self._lock = asyncio.Lock()
        self._recording = False
        self._began = 0.0  # monotonic time the recording began
        self._claims = 0  # claims checked since then
        self._signed_in = False  # a sign-in ended: from then on a continuous tracer records
        self._untraced = 0  # sign-ins under way: nothing may start a recording
        self._holds = 0  # checks in trouble (between a failed try and their end)
        self._closed = False
        self._last: _Kept | None = None

    def _wanted(self) -> bool:
        if self._closed or self._untraced:
            return False
        return self._signed_in if self.continuous else self._holds > 0

    @contextlib.asynccontextmanager
    async def untraced(self) -> AsyncIterator[None]:
        """Nothing inside is recorded (a sign-in: the password, the one-time code, the mailbox):
        the recording so far is thrown away, and a new one starts, if one is wanted, when the
        last sign-in under way ends, whether it worked or not."""
        async with self._lock:
            self._untraced += 1
            await self._stop()
        try:
            yield
        finally:
            async with self._lock:
                self._untraced -= 1
                self._signed_in = True
                if self._wanted():
                    await self._start()

    async def hold(self) -> None:
        """A check is in trouble (a try failed; another follows): record until it `release`s,
        and throw nothing away meanwhile."""
        async with self._lock:
            self._holds += 1
            if self._wanted() and not self._recording:
                await self._start()

    async def release(self) -> None:
        """A check that held the recording ended without a trace kept."""
        async with self._lock:
            self._holds = max(0, self._holds - 1)
            if self._recording and not self._wanted():
                await self._stop()

    async def checked(self, claims: int = 1) -> None:
        """`claims` were checked: throw the recording away and start again if it is due."""
        self._claims += claims
        if not self._rotation_due():
            return
        async with self._lock:
            if self._rotation_due():
                await self._stop()
                await self._start()

    def _rotation_due(self) -> bool:
        if not self._recording:
            return False
        if self._claims >= 4 * self.rotate_claims:
            return True
        due = self._claims >= self.rotate_claims or time.monotonic() - self._began >= self.rotate_s
        return due and not self._holds

    async def keep(self, since: float, release: bool = False) -> list[bytes]:
        """The scrubbed trace zips of a check that began at `since` (monotonic) and failed: the
        recording until now, and the last trace kept before it if that one still covers part of
        the check (another page's failure ended the recording meanwhile). Empty when nothing was
        recording (a sign-in under way, no check in trouble) or tracing failed. `release`: the
        check held the recording; recording goes on only if it is still wanted."""
        raw, ended = None, 0.0
        async with self._lock:
            previous = self._last if self._last is not None and self._last.ended > since else None
            if self._recording:
                with tempfile.TemporaryDirectory(prefix="rcmbot-trace-") as tmp:
                    path = Path(tmp) / "trace.zip"
                    if await self._stop(path) and path.is_file():
                        raw = await asyncio.to_thread(path.read_bytes)
                ended = time.monotonic()
            if release:
                self._holds = max(0, self._holds - 1)
            if self._wanted() and not self._recording:
                await self._start()
        kept = [previous.data] if previous is not None else []
        if raw is None:
            return kept
        try:
            if not await asyncio.to_thread(shows_a_step, raw):
                return kept  # a recording begun after a failed sign-in, say: nothing to look at
            data = await asyncio.to_thread(scrub_trace, raw, frozenset(self.sign_in_paths))
        except (zipfile.BadZipFile, ValueError) as exc:  # never keep what could not be scrubbed
            log.warning("trace dropped: it could not be scrubbed", error=str(exc).splitlines()[0])
            return kept
        if self._last is None or self._last.ended < ended:
            self._last = _Kept(data, ended)
        return [*kept, data]

    async def close(self) -> None:
        """Stop recording for good (nothing is kept)."""
        async with self._lock:
            self._closed = True
            self._last = None
            await self._stop()

    async def _start(self) -> None:
        try:
            await self.context.tracing.start(screenshots=self.screenshots, snapshots=self.snapshots)
        except PlaywrightError as exc:
            log.warning("tracing did not start", error=str(exc).splitlines()[0])
            return
        self._recording, self._began, self._claims = True, time.monotonic(), 0

    async def _stop(self, path: Path | None = None) -> bool:
        """Stop the recording, saving it at `path` if given (else it is thrown away); whether it
        stopped cleanly."""
        if not self._recording:
            return False
        self._recording = False
        try:
            await self.context.tracing.stop(path=path)
        except PlaywrightError as exc:
            log.warning("tracing did not stop cleanly", error=str(exc).splitlines()[0])
            return False
        return True


def shows_a_step(data: bytes) -> bool:
    """Whether a trace zip records at least one action of the bot (an empty one is not evidence)."""
    with zipfile.ZipFile(io.BytesIO(data)) as trace:
        return any(
            re.search(rb'"type":\s*"before"', trace.read(info))
            for info in trace.infolist()
            if info.filename.endswith(".trace")
        )


def scrub_trace(data: bytes, sign_in_paths: Collection[str] = ()) -> bytes:
    """A Playwright trace zip without credentials, as valid for `playwright show-trace` as before:
    the same files, each JSON line parsed and written back with values blanked, never removed.
    Blanked: the values of Cookie, Set-Cookie and Authorization headers (request, response, and
    headers an action set) and of the cookie lists beside them; for a request to a path in
    `sign_in_paths`, its form fields and body and its response's body (the resource files they
    point to are emptied)."""
    paths = frozenset(sign_in_paths)
    emptied: set[str] = set()
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        infos = src.infolist()
        events = {
            info.filename: _scrub_lines(src.read(info), paths, emptied)
            for info in infos
            if info.filename.endswith((".trace", ".network"))
        }
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            for info in infos:
                content = events.get(info.filename)
                if content is None:
                    content = b"" if info.filename in emptied else src.read(info)
                dst.writestr(info, content)
    return out.getvalue()


def _scrub_lines(text: bytes, paths: frozenset[str], emptied: set[str]) -> bytes:
    lines = text.split(b"\n")
    for n, line in enumerate(lines):
        if not _WORTH_PARSING.search(line):
            continue
        event = json.loads(line)
        changed = _blank_secrets(event)
        if isinstance(event, dict) and event.get("type") == "resource-snapshot":
            changed |= _blank_sign_in(event.get("snapshot") or {}, paths, emptied)
        if changed:
            lines[n] = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    return b"\n".join(lines)


def _blank_secrets(value: Any) -> bool:
    """Blank secret headers and cookie values anywhere in `value`, in place; whether any was."""
    changed = False
    if isinstance(value, dict):
        name = value.get("name")
        if isinstance(name, str) and name.lower() in SECRET_HEADERS and value.get("value"):
            value["value"] = ""
            changed = True
        for key, item in value.items():
            if key == "cookies" and isinstance(item, list):
                for cookie in item:
                    if isinstance(cookie, dict) and cookie.get("value"):
                        cookie["value"] = ""
                        changed = True
            elif key.lower() in SECRET_HEADERS and isinstance(item, str) and item:
                value[key] = ""  # headers written as an object
                changed = True
            else:
                changed |= _blank_secrets(item)
    elif isinstance(value, list):
        for item in value:
            changed |= _blank_secrets(item)
    return changed


def _blank_sign_in(entry: dict[str, Any], paths: frozenset[str], emptied: set[str]) -> bool:
    """Blank a network entry's request and response bodies if it went to a sign-in path."""
    request = entry.get("request") or {}
    if urlsplit(str(request.get("url", ""))).path not in paths:
        return False
    for body in (request.get("postData"), (entry.get("response") or {}).get("content")):
        if not isinstance(body, dict):
            continue
        if "text" in body:
            body["text"] = ""
        for param in body.get("params") or []:
            if isinstance(param, dict):
                param["value"] = ""
        for ref in ("_file", "_sha1"):
            if isinstance(body.get(ref), str):
                name = body[ref]
                emptied.add(name if "/" in name else f"resources/{name}")
    return True
