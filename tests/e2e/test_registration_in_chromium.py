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
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import sync_playwright
from sqlalchemy import func, select

from tests.e2e.test_login_in_chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.registration import FORM
from tests.support.site import sign_with_tool
from zorgid.registration.models import RegistrationRequest
from zorgid.registration.states import RegistrationState

if TYPE_CHECKING:
    from playwright.sync_api import Page

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
            # Pressing the button starts the widget's proof of work (its worker, from /static);
            # when it is done, the widget sends the form itself.
            with page.expect_navigation(timeout=60_000):
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


def fill_in(page: Page) -> None:
    """The application form, filled in as the technical administrator does."""
    page.fill("input[name=ura]", FORM.ura)
    page.fill("input[name=organisation_name]", FORM.organisation_name)
    page.fill("input[name=technical_name]", FORM.technical_name)
    page.fill("input[name=technical_email]", FORM.technical_email)
    page.fill("input[name=admin_name]", FORM.admin_name)
    page.fill("input[name=admin_email]", FORM.admin_email)
    page.check("input[value=example-his]")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_proof_of_work_widget_works_by_keyboard_under_the_csp_and_passes_axe(
    site: Site,
) -> None:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page(locale="en-GB")
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on(
                "console",
                lambda message: (
                    problems.append(message.text)
                    if message.type == "error" and "Failed to load resource" not in message.text
                    else None
                ),
            )
            fetched: list[str] = []
            page.on("request", lambda request: fetched.append(request.url))
            failed: list[str] = []
            page.on(
                "response",
                lambda response: (
                    failed.append(response.url)
                    if response.status >= 400 and not response.url.endswith("/favicon.ico")
                    else None
                ),
            )
            page.goto(site.live.url + "/aanvraag?lang=en")
            page.wait_for_selector("altcha-widget input[type=checkbox]")
            fill_in(page)

            # Before the check: every part of the page passes axe, the widget included.
            before = Axe().run(page)
            assert before.violations_count == 0, before.generate_report()

            # By keyboard: Tab from the last thing before it to the widget's box, Space checks.
            page.focus("#f-applications a[href='/toepassingen']")
            page.keyboard.press("Tab")
            focused = page.evaluate("document.activeElement.closest('altcha-widget') !== null")
            assert focused, page.evaluate("document.activeElement.outerHTML")
            page.keyboard.press("Space")
            page.wait_for_selector(".altcha[data-state=verified]", timeout=60_000)
            assert "Checked: you can send the form" in page.inner_text("altcha-widget")
            payload = page.input_value("altcha-widget input[name=altcha]")
            assert len(payload) > 100

            after = Axe().run(page)
            assert after.violations_count == 0, after.generate_report()

            # Tab on to the button, Enter sends the form.
            page.keyboard.press("Tab")
            with page.expect_navigation(timeout=60_000):
                page.keyboard.press("Enter")
            assert re.search(r"ZID-[0-9]{4}-[0-9]{6}", page.content()), page.content()[:2000]

            # Nothing broke the page's CSP (Chromium reports each refusal as a console
            # error), and nothing was loaded from anywhere but the service.
            assert problems == []
            assert failed == []
            assert site.live.url + "/static/vendor/altcha-3.2.2/workers/pbkdf2.js" in fetched
            assert all(url.startswith(site.live.url + "/") for url in fetched), fetched
        finally:
            chromium.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_without_javascript_the_form_says_what_to_do_and_sends_nothing(site: Site) -> None:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = chromium.new_context(locale="en-GB", java_script_enabled=False)
            page = context.new_page()
            page.goto(site.live.url + "/aanvraag?lang=en")
            assert "JavaScript is off in your browser" in page.inner_text("#f-altcha")
            fill_in(page)
            with page.expect_navigation():
                page.click("#application-form button[type=submit]")
            # The form again, with what was typed and what to do: no error page.
            assert "The check needs JavaScript" in page.inner_text("#e-altcha")
            assert page.input_value("input[name=organisation_name]") == FORM.organisation_name
            with site.live.container.reading() as session:
                assert session.scalar(select(func.count()).select_from(RegistrationRequest)) == 0
        finally:
            chromium.close()
