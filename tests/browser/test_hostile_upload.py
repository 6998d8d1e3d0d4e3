"""The upload page shows why a configuration too big or too deeply nested is refused (issue 14, H2, H3)."""

import pytest
from playwright.sync_api import expect

from elections.models import Election

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_upload_page_states_the_limits_and_shows_why_a_configuration_is_refused(alice, open_page):
    page = open_page(alice)
    page.goto("/elections/new/")
    expect(page.locator("#config-help")).to_contain_text("At most 6.0 MB, 100,001 elections and 32 levels")
    errors = page.locator("#upload-errors")
    for script, message in [
        ("""'{"title": "Big", "description": "' + 'x'.repeat(6500000) + '"}'""",
         "larger than the limit of 6,291,456 bytes"),
        ("'['.repeat(5000) + ']'.repeat(5000)", "nested more than 100 levels"),
    ]:
        page.evaluate(f"document.getElementById('config-text').value = {script}")
        # laying out 6.5 MB of text in the box takes seconds on a loaded machine
        page.get_by_role("button", name="Create the election").click(timeout=30_000)
        expect(errors).to_contain_text(message, timeout=30_000)
    assert not Election.objects.exists()
