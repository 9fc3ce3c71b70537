"""UTC time: every datetime the library stores or returns is aware UTC, in ms.

Mastra stores timestamps with millisecond precision (`2026-11-26T11:50:17.385Z`),
so values are truncated to milliseconds on the way in; what is saved is then
exactly what is read back, on every backend.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

UTC = timezone.utc
MILLISECOND = timedelta(milliseconds=1)
"""The resolution of every stored timestamp."""


def to_utc(value: datetime) -> datetime:
    """An aware datetime in UTC, truncated to milliseconds. Naive input is refused."""
    if value.tzinfo is UTC and not value.microsecond % 1000:
        return value  # already what we would return (the common case)
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError("naive datetime refused: give a timezone-aware datetime (UTC)")
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"{value.isoformat()} is outside the datetimes UTC can hold (years 1 to 9999)"
        ) from None
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def one_ms_after(value: datetime) -> datetime:
    """`value` + 1 ms, or `value` itself at the last millisecond a datetime
    holds (9999-12-31T23:59:59.999Z), where there is no later one."""
    try:
        return value + MILLISECOND
    except OverflowError:
        return value


def utc_now() -> datetime:
    # `to_utc(datetime.now(UTC))`, whose value is UTC already: truncated only.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


def format_iso(value: datetime) -> str:
    """Mastra's text timestamp: ISO 8601, UTC, milliseconds, `Z`; the year
    padded to 4 digits (as JSON.stringify writes it: `0001`)."""
    value = to_utc(value)
    # %-formatting of the fields: about half of `isoformat(timespec=...)`'s
    # cost (an offset to format, then cut), and the same text for every year.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond // 1000,
    )


def parse_iso(text: str) -> datetime:
    """Read a stored timestamp: `...Z`, an offset, or (as UTC) no offset at all."""
    if len(text) == 24 and text[23] == "Z" and text[19] == "." and text[10] == "T":
        # Mastra's own format, `2026-11-26T11:50:17.385Z`: already UTC and in ms.
        try:
            # `Z` reads as the UTC singleton (`to_utc` returns such a value as it is)
            value = datetime.fromisoformat(text)
            if value.tzinfo is UTC:
                return value
        except ValueError:
            pass
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text.replace(" ", "T", 1))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return to_utc(value)


class MonotonicClock:
    """Hands out strictly increasing millisecond timestamps within a process.

    Messages saved without `created_at` get one each, so that messages saved in
    one call (or in quick succession) keep their order instead of tying.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = datetime.min.replace(tzinfo=UTC)

    def next(self) -> datetime:
        with self._lock:
            now = utc_now()
            self._last = now if now > self._last else one_ms_after(self._last)
            return self._last


monotonic_clock = MonotonicClock()
