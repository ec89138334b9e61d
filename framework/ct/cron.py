"""Five-field cron expressions (minute hour day-of-month month day-of-week), no dependency.

Supports `*`, `*/n`, `a-b`, `a-b/n`, lists, names (jan, mon) and @hourly/@daily/@weekly/
@monthly/@yearly. As in cron, when both day fields are restricted a day matches either.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from framework.core.errors import SettingsError

ALIASES = {
    "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
          ("month", 1, 12, {m: i + 1 for i, m in enumerate(MONTHS)}),
          ("day of week", 0, 7, {d: i for i, d in enumerate(DAYS)}))


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: frozenset
    hours: frozenset
    days: frozenset
    months: frozenset
    weekdays: frozenset  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    def day_matches(self, date: datetime.date) -> bool:
        if date.month not in self.months:
            return False
        weekday = (date.weekday() + 1) % 7
        in_days, in_weekdays = date.day in self.days, weekday in self.weekdays
        if self.any_day or self.any_weekday:
            return in_days and in_weekdays
        return in_days or in_weekdays

    def matches(self, moment: datetime.datetime) -> bool:
        return (moment.minute in self.minutes and moment.hour in self.hours
                and self.day_matches(moment.date()))

    def last_tick(self, now: datetime.datetime, max_days: int = 366 * 5):
        """The latest minute <= now that the expression matches (None if none in range)."""
        now = now.replace(second=0, microsecond=0)
        for back in range(max_days + 1):
            date = now.date() - datetime.timedelta(days=back)
            if not self.day_matches(date):
                continue
            for hour in sorted(self.hours, reverse=True):
                if back == 0 and hour > now.hour:
                    continue
                for minute in sorted(self.minutes, reverse=True):
                    if back == 0 and hour == now.hour and minute > now.minute:
                        continue
                    return datetime.datetime.combine(
                        date, datetime.time(hour, minute), tzinfo=now.tzinfo)
        return None

    def kfp(self) -> str:
        """KFP recurring runs take six fields, seconds first."""
        return "0 " + self.expression


def _field(text: str, name: str, low: int, high: int, names: dict) -> frozenset:
    values: set[int] = set()
    for part in text.lower().split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"bad step in {part!r}")
        if body == "*":
            start, end = low, high
        else:
            first, dash, last = body.partition("-")
            start = names.get(first, None) if first in names else int(first)
            end = (names.get(last) if last in names else int(last)) if dash else (
                high if step else start)
        if not (low <= start <= high and low <= end <= high and start <= end):
            raise ValueError(f"{part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step or 1))
    if name == "day of week" and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values)


def parse(expression: str) -> Cron:
    text = ALIASES.get(expression.strip().lower(), expression.strip())
    parts = text.split()
    if len(parts) != 5:
        raise SettingsError(
            f"key 'ct.schedule': expected a cron expression of 5 fields "
            f"(minute hour day-of-month month day-of-week), got {expression!r}")
    sets = []
    for part, (name, low, high, names) in zip(parts, FIELDS, strict=True):
        try:
            sets.append(_field(part, name, low, high, names))
        except (ValueError, TypeError) as exc:
            raise SettingsError(
                f"key 'ct.schedule': {name} field {part!r} of {expression!r}: {exc}") from None
    return Cron(text, *sets, any_day=parts[2] == "*", any_weekday=parts[4] == "*")
