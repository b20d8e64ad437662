"""The organisation's registration pages in a real headless Chromium, as people use them.

The technical administrator fills in the application form (the browser's own form checks
included), uploads the signed document on the page linked from the request e-mail, and the
portal administrator confirms their address and gives their details. The browser must be able
to send every form: a field attribute the browser misreads would block a person, not a test
client.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import sync_playwright

from tests.e2e.test_login_in_chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.registration import FORM
from tests.support.site import sign_with_tool
from zorgid.registration.states import RegistrationState

if TYPE_CHECKING:
    from tests.support.site import Site


def link(text: str, path: str) -> str:
    found = re.search(rf"https?://\S+{path}\S+", text)
    assert found, text
    return found.group(0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_organisation_registers_through_the_pages_in_a_browser(site: Site) -> None:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page(locale="nl-NL")
            page.goto(site.live.url + "/aanvraag")
            page.fill("input[name=ura]", "9000012")  # seven digits: the browser says so
            page.fill("input[name=organisation_name]", FORM.organisation_name)
            page.fill("input[name=technical_name]", FORM.technical_name)
            page.fill("input[name=technical_email]", FORM.technical_email)
            page.fill("input[name=admin_name]", FORM.admin_name)
            page.fill("input[name=admin_email]", FORM.admin_email)
            page.check("input[value=example-his]")
            assert not page.evaluate("document.getElementById('f-ura').checkValidity()")
            page.fill("input[name=ura]", FORM.ura)
            assert page.evaluate("document.getElementById('application-form').checkValidity()")
            with page.expect_navigation():
                page.click("#application-form button[type=submit]")
            number = re.search(r"ZID-[0-9]{4}-[0-9]{6}", page.content())
            assert number, page.content()[:2000]

            request_mail = site.mail(FORM.technical_email, lambda m: number.group(0) in m.subject)
            signed = site.directory / "ondertekend.xml"
            signed.write_bytes(sign_with_tool(site, request_mail, site.server))
            page.goto(link(request_mail.text, "/aanvraag/"))
            page.set_input_files("input[type=file]", str(signed))
            with page.expect_navigation():
                page.click("form[enctype] button[type=submit]")
            assert site.state(number.group(0)) is RegistrationState.AWAITING_DETAILS
            assert "geaccepteerd" in page.content()

            details_mail = site.mail(FORM.admin_email, lambda m: "/gegevens/" in m.text)
            page.goto(link(details_mail.text, "/gegevens/"))
            with page.expect_navigation():
                page.click("form button[type=submit]")
            page.fill("input[name=full_name]", "Petra Anna de Vries")
            page.fill("input[name=birth_date]", "1980-05-17")
            page.fill("input[name=phone]", "+31612345678")
            with page.expect_navigation():
                page.click("form button[type=submit]")
            assert site.state(number.group(0)) is RegistrationState.AWAITING_REVIEW
        finally:
            chromium.close()
