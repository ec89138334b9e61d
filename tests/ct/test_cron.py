"""Cron expressions for the schedule trigger and the production schedulers."""

import datetime

import pytest

from framework.core.errors import SettingsError
from framework.ct.cron import parse

SATURDAY_EVENING = datetime.datetime(2026, 11, 28, 20, 7)
at = datetime.datetime


def test_last_tick_is_the_latest_matching_minute_not_after_now():
    assert parse("0 3 * * 1").last_tick(SATURDAY_EVENING) == at(2026, 11, 23, 3, 0)
    assert parse("*/15 * * * *").last_tick(SATURDAY_EVENING) == at(2026, 11, 28, 20, 0)
    assert parse("@monthly").last_tick(SATURDAY_EVENING) == at(2026, 11, 1, 0, 0)
    assert parse("30 2 * * sat").last_tick(SATURDAY_EVENING) == at(2026, 11, 28, 2, 30)


def test_kfp_form_has_six_fields_with_seconds_first():
    assert parse("0 3 * * *").kfp() == "0 0 3 * * *"


@pytest.mark.parametrize("bad", ["0 3 * *", "61 * * * *", "* * * * mon-xyz", "*/0 * * * *"])
def test_a_bad_expression_is_a_settings_error_naming_the_key(bad):
    with pytest.raises(SettingsError, match="ct.schedule"):
        parse(bad)
