"""Flow 1b end to end, as the organisation lives it: over real SMTP on loopback, with the real
validation tool and the real reference app, against the service running on SQLite and PostgreSQL.

The technical administrator submits the form, reads the request mail from the mailbox, completes
and signs the attached document with ``zorgid validatietool``, and replies to the request mail
with the signed file attached (SMTP to the service's inbound listener). The portal administrator
confirms their address and gives their details; the operator approves in the back office; the
administrator activates the app by decoding the QR in the approval mail, logs in, and the portal
shows them as administrator of the organisation.
"""

from __future__ import annotations

import re

from tests.support.identity import PIN
from tests.support.phone import run_app
from tests.support.registration import FORM, URA
from tests.support.server import Browser, csrf_of
from tests.support.site import (
    Site,
    log_in_as_operator,
    logged_in,
    sign_with_tool,
    submit_form,
)
from zorgid.registration.states import RegistrationState


def test_flow_1b_from_the_form_to_the_administrators_first_login(site: Site) -> None:
    # Step 2: the form; the request mail arrives with the prefilled document.
    number = submit_form(site)
    request_mail = site.mail(FORM.technical_email, lambda m: number in m.subject)
    assert str(request_mail.header("Reply-To")).startswith("aanvraag+")
    assert site.state(number) is RegistrationState.AWAITING_DOCUMENT

    # Step 3: sign with the validation tool and reply by mail.
    signed = sign_with_tool(site, request_mail, site.server)
    site.reply(request_mail, ("ondertekend.xml", signed))
    result = site.mail(FORM.technical_email, lambda m: "accepted" in m.subject.lower())
    assert "URA 90000123" in result.text
    assert site.state(number) is RegistrationState.AWAITING_DETAILS

    # Step 4: the portal administrator confirms the address and gives the details.
    details_mail = site.mail(FORM.admin_email, lambda m: "/gegevens/" in m.text)
    link = re.search(r"/gegevens/([A-Za-z0-9_-]+)", details_mail.text)
    assert link
    admin = Browser(site.live.url)
    path = f"/gegevens/{link.group(1)}"
    confirm = admin.post(f"{path}/bevestigen", data={"csrf": csrf_of(admin.get(path).text)})
    assert confirm.status_code in {200, 303}, confirm.text
    given = admin.post(
        path,
        data={
            "csrf": csrf_of(admin.get(path).text),
            "full_name": "Petra Anna de Vries",
            "birth_date": "1980-05-17",
            "phone": "+31 6 12345678",
        },
    )
    assert given.status_code in {200, 303}, given.text
    assert site.state(number) is RegistrationState.AWAITING_REVIEW

    # Step 5: the operator reviews and approves in the back office.
    operator = log_in_as_operator(site)
    queue = operator.get("/beheer")
    assert number in queue.text
    request_id = re.search(r"/beheer/aanvragen/([A-Za-z0-9_-]+)", queue.text)
    assert request_id
    detail_path = f"/beheer/aanvragen/{request_id.group(1)}"
    detail = operator.get(detail_path)
    assert "90000123" in detail.text
    approved = operator.post(f"{detail_path}/goedkeuren", data={"csrf": csrf_of(detail.text)})
    assert approved.status_code in {200, 303}, approved.text
    assert site.state(number) is RegistrationState.APPROVED

    # Step 6: the activation QR arrives by mail; the app decodes it from the image.
    activation = site.mail(
        FORM.admin_email, lambda m: any(a.content_type == "image/png" for a in m.attachments)
    )
    png = next(a for a in activation.attachments if a.content_type == "image/png")
    qr = site.directory / "activatie-qr.png"
    qr.write_bytes(png.data)
    home = site.directory / "phone-petra"
    activated = run_app(home, "activate", str(qr), "--pin-stdin", stdin=PIN + "\n")
    assert activated.returncode == 0, activated.stdout + activated.stderr
    assert "Petra Anna de Vries" in activated.stdout
    shown = run_app(home, "id", "--json")
    assert URA in shown.stdout
    assert "administrator" in shown.stdout

    # Step 7: the administrator logs in; the portal shows the organisation; the request is done.
    portal = logged_in(site, home).get("/")
    assert "Petra Anna de Vries" in portal.text
    assert FORM.organisation_name in portal.text
    roles = portal.text.split('id="roles"', 1)[1].split("</ul>", 1)[0]
    assert f"Portaal administrator — {FORM.organisation_name} (URA {URA})" in roles
    registrations = portal.text.split('id="registrations"', 1)[1].split("</ul>", 1)[0]
    assert number in registrations
    assert "Voltooid" in registrations
    assert site.state(number) is RegistrationState.COMPLETED
