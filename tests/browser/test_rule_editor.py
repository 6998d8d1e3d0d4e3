"""The rule editor dialog in headless Chromium: a reminder made with the keyboard and mouse,
the cron presets and their preview, the DST warning, errors beside their fields, and a hostile
name that stays text. Expected times are worked out here with zoneinfo, not read from the app."""

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from automations.models import Automation
from elections.services import create_election
from scheduling import configuring as scheduling
from scheduling.models import Kind, ScheduledEvent, State

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PARIS = ZoneInfo("Europe/Paris")
HOSTILE = "<img src=x onerror=alert(1)>"
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
PARIS_GAP = "02:30 does not exist on 28 Mar 2027 in Europe/Paris; this run will happen at 03:00"


@pytest.fixture(autouse=True)
def email_templates(transactional_db):
    """A transactional test starts from empty tables: put the default templates back."""
    from notifications import services

    services.install_default_templates()


def now():
    from django.utils import timezone

    return timezone.now()


def utc_words(instant: datetime) -> str:
    """``7 Dec 2026 06:15 UTC``, as the preview's UTC column says it."""
    t = instant.astimezone(UTC)
    return f"{t.day} {MONTHS[t.month - 1]} {t.year} {t:%H:%M} UTC"


def wall_words(instant: datetime, zone: ZoneInfo) -> str:
    """``Mon 7 Dec 2026 07:15 Europe/Paris``, as the preview's zone column says it."""
    t = instant.astimezone(zone)
    return f"{t:%a} {t.day} {MONTHS[t.month - 1]} {t.year} {t:%H:%M} {zone.key}"


def listen_for_saves(page):
    page.evaluate("""() => {
        window.__saved = [];
        document.addEventListener("automation:saved", (e) => window.__saved.push(e.detail));
    }""")


def open_global_editor(page):
    page.goto("/automations/")
    page.get_by_role("button", name="Add a global automation").click()
    dialog = page.get_by_role("dialog", name="New automation")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Time zone", exact=True)).to_have_value("UTC")  # loaded: the server's zone
    return dialog


def preview_rows(dialog):
    return dialog.locator("#rule-preview-runs tbody tr")


def test_a_relative_reminder_made_in_the_dialog_is_saved_with_its_run(alice, open_page):
    end = (now() + timedelta(days=10)).replace(second=0, microsecond=0)
    election = create_election(title="General", created_by=alice)
    election.time_zone = "Europe/Paris"
    election.save(update_fields=["time_zone"])
    scheduling.configure(election, {"end_voting": end}, actor=alice, replace=False)
    page = open_page(alice)
    page.goto(f"/elections/{election.pk}/")
    listen_for_saves(page)
    panel = page.locator("#automations-panel")
    panel.get_by_role("button", name="Add a reminder").click()  # the panel's button (data-rule-editor-new)
    dialog = page.get_by_role("dialog", name="New automation")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Name")).to_be_focused()

    dialog.get_by_label("Name").fill("Remind the editors")
    expect(dialog.get_by_label("Send an email with a template")).to_be_checked()
    template = dialog.get_by_label("Email template")
    expect(template.locator("option[value='voting-closes-soon']")).to_have_count(1)
    template.select_option("voting-closes-soon")
    expect(dialog.get_by_label("Runs", exact=True)).to_have_value("relative")
    expect(dialog.get_by_label("Time zone", exact=True)).to_have_value("Europe/Paris")  # the election's
    dialog.get_by_label("How long").fill("2")
    dialog.locator("#rule-offset-unit").select_option("D")
    dialog.get_by_label("The moment").select_option("end_voting")
    run_at = end - timedelta(days=2)
    expect(dialog.locator("#rule-preview-words")).to_have_text("2 days before voting closes")
    expect(preview_rows(dialog)).to_have_count(1)
    expect(preview_rows(dialog).first).to_contain_text(wall_words(run_at, PARIS))
    expect(preview_rows(dialog).first).to_contain_text(utc_words(run_at))

    people = dialog.get_by_role("combobox", name="People")
    people.fill("ali")
    expect(dialog.get_by_role("option", name="alice")).to_be_visible()
    people.press("ArrowDown")
    people.press("Enter")
    expect(dialog.locator("#rule-users-chips")).to_contain_text("alice")
    dialog.get_by_label("edit-grant holders").check()
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith(f"/api/elections/{election.pk}/automations/")) as info:
        dialog.get_by_role("button", name="Save the automation").click()
    assert info.value.status == 201
    expect(dialog).to_be_hidden()
    expect(page.locator("#notifications")).to_contain_text("Created “Remind the editors”.")
    automation = Automation.objects.get(election=election)
    assert page.evaluate("window.__saved") == [{"id": automation.pk, "election": election.pk}]
    assert automation.when == {"before": "end_voting", "offset": "P2D"}
    assert automation.operations == {"send_email": {"template": "voting-closes-soon"}}
    assert (automation.recipients["users"], automation.recipients["grants"]) == (["alice"], ["edit"])
    (run,) = ScheduledEvent.objects.filter(kind=Kind.AUTOMATION, automation_id=automation.pk,
                                           state=State.PENDING)
    assert run.event_at == run_at
    listed = page.request.get(f"/api/elections/{election.pk}/automations/").json()["results"]
    assert [(a["name"], a["next_run_at"]) for a in listed] == [
        ("Remind the editors", run_at.strftime("%Y-%m-%dT%H:%M:%SZ"))]
    words = panel.locator(f"[data-automation-id='{automation.pk}'] [data-sentence]")
    expect(words).to_have_text(re.compile(
        r"^Email voting-closes-soon to alice and edit-grant holders, 2 days before voting closes\s+"
        rf"— next: {re.escape(wall_words(run_at, PARIS))}$"))

    # the panel's Edit opens the same dialog with the rule loaded; a change moves the run
    panel.get_by_role("button", name="Edit Remind the editors").click()
    dialog = page.get_by_role("dialog", name="Change the automation")
    expect(dialog.get_by_label("How long")).to_have_value("2")
    expect(dialog.locator("#rule-offset-unit")).to_have_value("D")
    expect(dialog.locator("#rule-users-chips")).to_contain_text("alice")
    dialog.get_by_label("How long").fill("3")
    dialog.get_by_role("button", name="Save the automation").click()
    expect(dialog).to_be_hidden()
    moved = wall_words(end - timedelta(days=3), PARIS)
    expect(words).to_contain_text(f"3 days before voting closes — next: {moved}")
    assert page.evaluate("window.__saved")[-1] == {"id": automation.pk, "election": election.pk}


def test_the_presets_fill_the_cron_rule_and_the_preview_shows_the_next_five_runs(make_user, open_page):
    root = make_user("root", superuser=True)
    page = open_page(root)
    dialog = open_global_editor(page)
    expect(dialog.get_by_label("Runs", exact=True)).to_have_value("cron")
    dialog.get_by_label("Time zone", exact=True).fill("Europe/Paris")
    dialog.get_by_label("Preset (fills the cron rule)").select_option("nightly")
    dialog.get_by_label("From", exact=True).fill("22:30")
    dialog.get_by_label("To", exact=True).fill("06:00")
    expect(dialog.get_by_label("Cron rule", exact=True)).to_have_value("30 22-23,0-5 * * *")
    dialog.get_by_label("Preset (fills the cron rule)").select_option("daily")
    dialog.get_by_label("At", exact=True).fill("18:45")
    expect(dialog.get_by_label("Cron rule", exact=True)).to_have_value("45 18 * * *")
    dialog.get_by_label("Preset (fills the cron rule)").select_option("weekly")
    dialog.get_by_label("Day", exact=True).select_option("MON")
    dialog.get_by_label("At", exact=True).fill("07:15")
    expect(dialog.get_by_label("Cron rule", exact=True)).to_have_value("15 7 * * MON")

    # the next five Mondays at 07:15 in Paris, worked out day by day on the wall clock
    start = now()
    expected, day = [], start.astimezone(PARIS).date()
    while len(expected) < 5:
        moment = datetime(day.year, day.month, day.day, 7, 15, tzinfo=PARIS)
        if day.weekday() == 0 and moment > start:
            expected.append(moment)
        day += timedelta(days=1)
    expect(dialog.locator("#rule-preview-words")).to_have_text("At 07:15 on Monday, Europe/Paris time")
    expect(preview_rows(dialog)).to_have_count(5)
    for row, moment in zip(preview_rows(dialog).all(), expected, strict=True):
        expect(row.locator("td").nth(0)).to_have_text(wall_words(moment, PARIS))
        expect(row.locator("td").nth(1)).to_have_text(utc_words(moment))

    # saved, it is listed in words with its next run in the page's zone (UTC here), UTC on hover
    dialog.get_by_label("Name").fill("Weekly digest")
    dialog.get_by_label("Send an email with a template").check()
    dialog.get_by_label("Email template").select_option("welcome")
    people = dialog.get_by_role("combobox", name="People")
    people.fill("roo")
    expect(dialog.get_by_role("option", name="root")).to_be_visible()
    people.press("ArrowDown")
    people.press("Enter")
    expect(dialog.locator("#rule-users-chips")).to_have_text(re.compile(r"^root\W$"))  # name, remove button
    dialog.get_by_role("button", name="Save the automation").click()
    expect(dialog).to_be_hidden()
    row = page.locator("#global-automations tr", has_text="Weekly digest")
    expect(row.locator("[data-sentence]")).to_have_text(
        "Email welcome to root, at 07:15 on Monday, Europe/Paris time")
    next_run = row.locator("[data-next-run] time")
    expect(next_run).to_have_text(wall_words(expected[0], ZoneInfo("UTC")))
    expect(next_run).to_have_attribute("title", utc_words(expected[0]))


def test_a_run_at_0230_in_paris_on_28_march_2027_warns_that_it_moves_to_0300(make_user, open_page):
    root = make_user("root", superuser=True)
    page = open_page(root)
    dialog = open_global_editor(page)
    dialog.get_by_label("Time zone", exact=True).fill("Europe/Paris")
    dialog.get_by_label("Preset (fills the cron rule)").select_option("daily")
    dialog.get_by_label("At", exact=True).fill("02:30")
    dialog.get_by_label("Show the runs from (empty: now)").fill("2027-03-26")
    warning = dialog.locator("#rule-preview-warnings")
    expect(warning).to_have_text(PARIS_GAP)
    rows = preview_rows(dialog)
    expect(rows).to_have_count(5)
    # 26 Mar 02:30 (UTC+1), 27 Mar 02:30, then 28 Mar 03:00 (UTC+2) = 01:00 UTC, then 02:30 again
    expect(rows.nth(2).locator("td").nth(0)).to_have_text("Sun 28 Mar 2027 03:00 Europe/Paris DST")
    expect(rows.nth(2).locator("td").nth(1)).to_have_text("28 Mar 2027 01:00 UTC")
    expect(rows.nth(3).locator("td").nth(1)).to_have_text("29 Mar 2027 00:30 UTC")

    # a one-off date in that gap is refused beside the date before anything is sent
    dialog.get_by_label("Runs", exact=True).select_option("at")
    dialog.get_by_label("Date and time (in the time zone below)").fill("2027-03-28T02:30")
    expect(dialog.locator("#rule-at-error")).to_have_text(
        "02:30 does not exist on 28 Mar 2027 in Europe/Paris (the clocks jump forward); choose another time.")
    dialog.get_by_label("Date and time (in the time zone below)").fill("2027-03-28T03:00")
    expect(dialog.locator("#rule-at-error")).to_have_text("")
    expect(preview_rows(dialog).first).to_have_text("Sun 28 Mar 2027 03:00 Europe/Paris28 Mar 2027 01:00 UTC")


def test_errors_show_beside_their_fields_and_the_dialog_stays_open(make_user, open_page):
    root = make_user("root", superuser=True)
    page = open_page(root)
    page.goto("/automations/")
    page.get_by_role("button", name="Add a global automation").focus()
    page.keyboard.press("Enter")  # opened from the keyboard
    dialog = page.get_by_role("dialog", name="New automation")
    expect(dialog.get_by_label("Name")).to_be_focused()
    for key in ["Tab"] * 60 + ["Shift+Tab"] * 60:  # focus goes round inside the dialog, never out
        page.keyboard.press(key)
        assert page.evaluate("document.activeElement.closest('dialog') !== null"), key
    expect(dialog.get_by_label("Time zone", exact=True)).to_have_value("UTC")
    cron = dialog.get_by_label("Cron rule", exact=True)
    cron.fill("0 25 * * *")
    # the live preview already names the field
    expect(dialog.locator("#rule-cron-error")).to_contain_text("hour 25 is out of range 0\u201323")
    expect(cron).to_have_attribute("aria-invalid", "true")
    dialog.get_by_role("button", name="Save the automation").click()
    expect(dialog.locator("#rule-name-error")).to_contain_text("Give the automation a name")
    expect(dialog.get_by_label("Name")).to_be_focused()
    expect(dialog.locator("#rule-operations-error")).to_contain_text("Choose at least one thing it does")

    dialog.get_by_label("Name").fill("Welcome")
    dialog.get_by_label("Send an email with a template").check()
    dialog.get_by_label("Email template").select_option("welcome")
    cron.fill("0 9 * * *")
    dialog.get_by_role("combobox", name="People").fill("ghost")
    dialog.get_by_role("combobox", name="People").press("Enter")
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/api/automations/")) as info:
        dialog.get_by_role("button", name="Save the automation").click()
    assert info.value.status == 400
    expect(dialog.locator("#rule-users-error")).to_contain_text(
        "No account with the username or e-mail address 'ghost'")
    expect(dialog.get_by_role("combobox", name="People")).to_be_focused()
    expect(dialog).to_be_visible()
    assert not Automation.objects.filter(name="Welcome").exists()

    # a date in the past is named beside the date; Escape closes the dialog without saving
    dialog.locator("#rule-users-chips").get_by_role("button", name="Remove ghost").click()
    dialog.get_by_label("Runs", exact=True).select_option("at")
    dialog.get_by_label("Date and time (in the time zone below)").fill("2020-01-01T09:00")
    expect(dialog.locator("#rule-at-error")).to_contain_text("is in the past")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Add a global automation")).to_be_focused()
    assert not Automation.objects.filter(name="Welcome").exists()


def test_a_hostile_name_stays_text_in_the_list_and_the_editor(make_user, open_page):
    root = make_user("root", superuser=True)
    page = open_page(root)
    alerts = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    dialog = open_global_editor(page)
    dialog.get_by_label("Name").fill(HOSTILE)
    dialog.get_by_label("Send an email with a template").check()
    dialog.get_by_label("Email template").select_option("welcome")
    dialog.get_by_label("Runs", exact=True).select_option("user")
    dialog.locator("#rule-user-event").select_option("user.created")
    expect(dialog.locator("#rule-preview-words")).to_have_text("When a user account is created")
    dialog.get_by_role("button", name="Save the automation").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#notifications")).to_contain_text(f"Created “{HOSTILE}”.")
    row = page.locator("#global-automations tr", has_text=HOSTILE)
    expect(row.locator("[data-name]")).to_have_text(HOSTILE)
    expect(row.locator("[data-sentence]")).to_have_text(
        "Email welcome, when a user account is created")
    expect(page.locator("main img")).to_have_count(0)

    # editing it loads every field back; the name is a value, not markup
    row.get_by_role("button", name=f"Edit {HOSTILE}").click()
    dialog = page.get_by_role("dialog", name="Change the automation")
    expect(dialog.get_by_label("Name")).to_have_value(HOSTILE)
    expect(dialog.get_by_label("Runs", exact=True)).to_have_value("user")
    expect(dialog.get_by_label("Email template")).to_have_value("welcome")
    dialog.get_by_label("Wait (0: at once; a last login needs a wait)").fill("2")
    expect(dialog.locator("#rule-preview-words")).to_have_text("2 days after a user account is created")
    with page.expect_response(lambda r: r.request.method == "PUT") as info:
        dialog.get_by_role("button", name="Save the automation").click()
    assert info.value.status == 200
    expect(row.locator("[data-sentence]")).to_have_text(
        "Email welcome, 2 days after a user account is created")
    assert Automation.objects.get(name=HOSTILE).when == {"after": "user.created", "delay": "P2D"}
    expect(page.locator("main img")).to_have_count(0)
    assert alerts == []


@pytest.mark.skipif(os.environ.get("SCREENSHOTS") != "1", reason="set SCREENSHOTS=1")
def test_screenshots_of_the_rule_editor(make_user, open_page):
    """docs/screenshots/rule-editor.png and global-automations.png, for the README."""
    out = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    root = make_user("admin", superuser=True)
    Automation.objects.create(name="Welcome new accounts", when={"on": "user.created"},
                              operations={"send_email": {"template": "welcome"}}, recipients={})
    page = open_page(root)
    page.set_viewport_size({"width": 1200, "height": 1900})
    dialog = open_global_editor(page)
    dialog.get_by_label("Name").fill("Nightly digest for the observers")
    dialog.get_by_label("Send an email with a template").check()
    dialog.get_by_label("Email template").select_option("election-summary")
    dialog.get_by_label("Time zone", exact=True).fill("Europe/Paris")
    dialog.get_by_label("Preset (fills the cron rule)").select_option("daily")
    dialog.get_by_label("At", exact=True).fill("02:30")
    dialog.get_by_label("Show the runs from (empty: now)").fill("2027-03-26")
    expect(dialog.locator("#rule-preview-warnings")).to_be_visible()
    dialog.get_by_role("combobox", name="People").fill("adm")
    expect(dialog.get_by_role("option", name="admin")).to_be_visible()
    dialog.get_by_role("combobox", name="People").press("ArrowDown")
    dialog.get_by_role("combobox", name="People").press("Enter")
    dialog.get_by_role("button", name="Save the automation").focus()
    dialog.screenshot(path=str(out / "rule-editor.png"))
    page.keyboard.press("Escape")
    page.set_viewport_size({"width": 1200, "height": 560})
    page.screenshot(path=str(out / "global-automations.png"))
