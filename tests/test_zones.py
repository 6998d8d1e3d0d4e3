"""The one rule for which zone a page shows times in, and how a time reads there."""

from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.test import RequestFactory

from config import zones
from elections.models import Election
from notifications.models import UserSettings

pytestmark = pytest.mark.django_db

WINTER = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_a_time_reads_in_the_zone_with_the_zone_named():
    assert zones.format_in_zone(WINTER, "Europe/Madrid") == "Tue 1 Dec 2026 09:00 Europe/Madrid"
    assert zones.format_in_zone(WINTER.replace(second=5), "UTC") == "Tue 1 Dec 2026 08:00:05 UTC"
    assert zones.format_in_zone(None, "UTC") == ""


def test_the_users_choice_wins_over_the_elections_zone(django_user_model):
    alice = django_user_model.objects.create_user("alice")
    election = Election.objects.create(title="General", time_zone="America/New_York")
    assert zones.display_zone(alice, election) == "America/New_York"
    assert zones.display_zone(alice) == "UTC"
    UserSettings.objects.create(user=alice, time_zone="Asia/Tokyo")
    fresh = django_user_model.objects.get(pk=alice.pk)
    assert zones.display_zone(fresh, election) == "Asia/Tokyo"


def test_the_moment_tag_names_the_zone_and_puts_utc_on_hover(django_user_model):
    request = RequestFactory().get("/")
    request.user = django_user_model.objects.create_user("bob")
    election = Election.objects.create(title="General", time_zone="Europe/Madrid")
    html = Template("{% load election_pages %}{% moment when election %}").render(
        Context({"request": request, "when": WINTER, "election": election}))
    assert html == ('<time datetime="2026-12-01T08:00:00Z" title="1 Dec 2026 08:00 UTC" '
                    'data-zone="Europe/Madrid">Tue 1 Dec 2026 09:00 Europe/Madrid</time>')


def test_a_stale_or_unknown_chosen_zone_falls_back_to_the_elections(django_user_model):
    carol = django_user_model.objects.create_user("carol")
    UserSettings.objects.create(user=carol, time_zone="Mars/Olympus")  # set outside the form
    election = Election.objects.create(title="General", time_zone="Europe/Madrid")
    assert zones.display_zone(carol, election) == "Europe/Madrid"
