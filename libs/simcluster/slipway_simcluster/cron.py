"""Cron schedules as CronJobs write them: five fields (minute hour day-of-month month
day-of-week) with `*`, `?`, ranges, steps, lists and names, or a macro (`@hourly`, …)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# (low, high, names) of each field.
_FIELDS = [
    (0, 59, []),
    (0, 23, []),
    (1, 31, []),
    (1, 12, _MONTHS),
    (0, 7, _DAYS),
]
_HORIZON = timedelta(days=366 * 5)


class CronSyntaxError(ValueError):
    """A schedule a CronJob cannot run on."""


def _number(text: str, low: int, high: int, names: list[str]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names.index(lowered) + (1 if low == 1 else 0)
    if not text.isdigit() or not low <= int(text) <= high:
        raise CronSyntaxError(f"unparseable schedule value {text!r} (expected {low}-{high})")
    return int(text)


def _field(text: str, low: int, high: int, names: list[str]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = _number(step_text, 1, high, []) if step_text else 1
        if span in ("*", "?"):
            start, end = low, high
        elif "-" in span:
            first, _, last = span.partition("-")
            start, end = _number(first, low, high, names), _number(last, low, high, names)
        else:
            start = _number(span, low, high, names)
            end = high if step_text else start
        if start > end:
            raise CronSyntaxError(f"unparseable schedule range {span!r}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed schedule; times are naive-free UTC datetimes."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> CronSchedule:
        """Parse a schedule (CronSyntaxError if it is not one)."""
        spec = _MACROS.get(text.strip().lower(), text.strip())
        parts = spec.split()
        if len(parts) != 5:
            raise CronSyntaxError(f"unparseable schedule {text!r}: expected exactly 5 fields")
        fields = [_field(part, *limits) for part, limits in zip(parts, _FIELDS, strict=True)]
        weekdays = frozenset(day % 7 for day in fields[4])
        return cls(
            fields[0],
            fields[1],
            fields[2],
            fields[3],
            weekdays,
            parts[2] in ("*", "?"),
            parts[4] in ("*", "?"),
        )

    def _day_matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7  # cron counts from Sunday
        in_days, in_weekdays = moment.day in self.days, weekday in self.weekdays
        if self.any_day or self.any_weekday:
            return in_days and in_weekdays
        return in_days or in_weekdays  # both restricted: either may match, as in cron

    def next_after(self, moment: datetime) -> datetime | None:
        """The first scheduled minute strictly after `moment` (None within five years)."""
        current = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        end = moment + _HORIZON
        while current <= end:
            if current.month not in self.months:
                year, month = divmod(current.month, 12)
                current = current.replace(
                    year=current.year + year, month=month + 1, day=1, hour=0, minute=0
                )
            elif not self._day_matches(current):
                current = (current + timedelta(days=1)).replace(hour=0, minute=0)
            elif current.hour not in self.hours:
                current = (current + timedelta(hours=1)).replace(minute=0)
            elif current.minute not in self.minutes:
                current += timedelta(minutes=1)
            else:
                return current
        return None

    def latest_between(self, after: datetime, until: datetime) -> datetime | None:
        """The last scheduled minute in (`after`, `until`], if any (looking back a week)."""
        after = max(after, until - timedelta(days=7))
        latest = None
        candidate = self.next_after(after)
        while candidate is not None and candidate <= until:
            latest = candidate
            candidate = self.next_after(candidate)
        return latest
