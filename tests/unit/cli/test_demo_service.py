"""`zorgid demo`: the service set up for the whole of flow 1b, and its printed steps followed.

The first test calls the demo's set-up in this process and checks what it made: the mailbox,
the accepted applications, the trust in the demo PKI (a document signed with the printed
command is accepted) and the printed steps. The second runs `zorgid demo` as a newcomer does
and follows the printed steps to the end, with the mailbox pages, the printed validation tool
command and the reference app.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tests.support.identity import PIN
from tests.support.phone import ceremony
from tests.support.proofofwork import solved
from tests.support.server import Browser, _free_socket, csrf_of, free_port, serve, wait_until_up
from zorgid.cli.demo import ADMINISTRATOR, TECHNICAL, DemoService, print_instructions, set_up
from zorgid.cli.output import out_for
from zorgid.cli.service import make_app
from zorgid.registration.views import ApplicationForm

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import pytest

HOST = "127.0.0.1"
MAIL_WAIT = 30.0


def _command_lines(printed: str) -> list[list[str]]:
    """The commands the steps tell the person to type (indented lines starting with zorgid)."""
    return [
        shlex.split(line.strip())
        for line in printed.splitlines()
        if line.startswith("     zorgid ")
    ]


def _zorgid(args: list[str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run a printed command (``zorgid ...``) as the person would, in the folder of the demo."""
    assert args[0] == "zorgid", args
    return subprocess.run(
        [sys.executable, "-m", "zorgid", *args[1:]],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_set_up_trusts_the_demo_pki_lists_applications_and_prints_every_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    sock = _free_socket()
    demo = set_up(Path("zorgid-demo"), host=HOST, port=sock.getsockname()[1])
    try:
        print_instructions(out_for("en"), demo, "zorgid")
        printed = capsys.readouterr().out
        _check_printed(printed, demo)
        with serve(demo.container, sock, make_app(demo.container, demo.routers())):
            assert httpx.get(f"{demo.url}/demo/post").status_code == 200
            listed = httpx.get(f"{demo.url}/api/toepassingen").json()["applications"]
            assert "example-his" in {a["id"] for a in listed}
            _sign_and_upload(demo, printed, tmp_path)
    finally:
        demo.stop()


def _check_printed(printed: str, demo: DemoService) -> None:
    for number in range(1, 16):
        assert f"\n{number}. " in printed
    assert f"{demo.url}/demo/post" in printed
    assert f"{demo.url}/aanvraag" in printed
    assert f"URA: {demo.ura}" in printed
    assert demo.ura == "90000123"
    assert "Huisartsenpraktijk De Linde" in printed
    assert demo.inbound in printed
    [sign] = [c for c in _command_lines(printed) if c[1:3] == ["validatietool", "sign"]]
    for option in ("--pkcs12", "--password-file"):
        assert Path(sign[sign.index(option) + 1]).is_file()
    assert Path(sign[3]) == demo.files.document
    assert Path(sign[sign.index("-o") + 1]) == demo.files.signed


def _sign_and_upload(demo: DemoService, printed: str, cwd: Path) -> None:
    """A request's document, signed with the printed command, is accepted by the service."""
    container = demo.container
    with container.unit_of_work() as session:
        submitted = container.registration(session).submit(
            ApplicationForm(
                ura=demo.ura,
                organisation_name=demo.organisation,
                technical_name=TECHNICAL[0],
                technical_email=TECHNICAL[1],
                admin_name=ADMINISTRATOR[0],
                admin_email=ADMINISTRATOR[1],
                applications=("example-his",),
            ),
            language="en",
            source="test",
        )
    mail = demo.catcher.wait_for(lambda m: submitted.number in m.subject, timeout=MAIL_WAIT)
    [attachment] = mail.attachments
    demo.files.document.write_bytes(attachment.data)
    [sign] = [c for c in _command_lines(printed) if c[1:3] == ["validatietool", "sign"]]
    signed = _zorgid([*sign, "--lang", "en"], cwd)
    assert signed.returncode == 0, signed.stdout + signed.stderr
    token = re.search(r"/aanvraag/([A-Za-z0-9_-]+)", mail.text)
    assert token
    with container.unit_of_work() as session:
        result = container.registration(session).upload(
            token.group(1), demo.files.signed.read_bytes(), source="test"
        )
    assert result.accepted, result.error


# -- the demo as a newcomer runs it ------------------------------------------------------------


class Mailbox:
    """The demo mailbox pages, read as a person reads them."""

    def __init__(self, url: str) -> None:
        self.browser = Browser(url)

    def open(self, to: str, about: Callable[[str], bool]) -> str:
        """The page of the newest message to ``to`` whose page ``about`` accepts."""
        deadline = time.monotonic() + MAIL_WAIT
        while time.monotonic() < deadline:
            inbox = self.browser.get("/demo/post").text
            rows = re.findall(r'<td>([^<]*)</td>\s*<td><a href="(/demo/post/[0-9a-f]+)">', inbox)
            for recipients, link in rows:
                if to in recipients:
                    page = html.unescape(self.browser.get(link).text)
                    if about(page):
                        return page
            time.sleep(0.2)
        msg = f"no mail to {to} arrived"
        raise AssertionError(msg)

    def download(self, page: str, name_part: str, to: Path) -> None:
        """Save the attachment whose name contains ``name_part``."""
        found = re.search(r'<a href="(/demo/post/[0-9a-f]+/bijlage/\d+)"[^>]*>([^<]+)</a>', page)
        assert found, page[:2000]
        assert name_part in found.group(2)
        response = self.browser.get(found.group(1))
        assert response.status_code == 200
        to.write_bytes(response.content)


def _logged_in(url: str, home: Path) -> Browser:
    done = ceremony(url, home)
    assert done.app.returncode == 0, done.app.stdout + done.app.stderr
    completed = done.browser.post(
        f"/login/{done.page.login_id}/complete", data={"csrf": done.page.csrf}
    )
    assert completed.status_code == 303, completed.text
    return done.browser


@contextlib.contextmanager
def _started_demo(cwd: Path, port: int) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    log = cwd / "demo-output.txt"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "zorgid", "demo", "--port", str(port), "--lang", "en"],
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        wait_until_up(process, f"http://{HOST}:{port}/healthz", log.read_text)
        yield process, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_newcomer_follows_the_printed_steps_through_flow_1b(tmp_path: Path) -> None:  # noqa: PLR0915 - the whole flow, step by step
    port = free_port()
    with _started_demo(tmp_path, port) as (process, printed):
        url = f"http://{HOST}:{port}"
        commands = _command_lines(printed)
        activations = [c for c in commands if c[1] == "app" and c[4] == "activate"]
        assert len(activations) == 2, printed
        operator_activate, admin_activate = activations
        [sign] = [c for c in commands if c[1:3] == ["validatietool", "sign"]]

        # Part 1: the operator activates the app and logs in.
        activated = _zorgid([*operator_activate, "--pin-stdin"], tmp_path, PIN + "\n")
        assert activated.returncode == 0, activated.stdout + activated.stderr
        operator = _logged_in(url, tmp_path / operator_activate[3])
        assert operator.get("/beheer").status_code == 200

        # Preparation and the application form, with the printed URA and name.
        assert "Voorbeeld HIS" in httpx.get(f"{url}/toepassingen").text
        ura = re.search(r"URA: (\d{8})", printed)
        name = re.search(r"Organisation: (.+)", printed)
        assert ura
        assert name
        technical = Browser(url)
        form = technical.get("/aanvraag").text
        sent = technical.post(
            "/aanvraag",
            data={
                "csrf": csrf_of(form),
                "altcha": solved(technical),
                "ura": ura.group(1),
                "organisation_name": name.group(1).strip(),
                "technical_name": TECHNICAL[0],
                "technical_email": TECHNICAL[1],
                "admin_name": ADMINISTRATOR[0],
                "admin_email": ADMINISTRATOR[1],
                "applications": "example-his",
            },
        )
        assert sent.status_code == 200, sent.text

        # The request mail: save the document, sign it with the printed command, upload it.
        mailbox = Mailbox(url)
        request_mail = mailbox.open(TECHNICAL[1], lambda page: "/aanvraag/" in page)
        mailbox.download(request_mail, "organisatiedocument", tmp_path / sign[3])
        signed = _zorgid([*sign, "--lang", "en"], tmp_path)
        assert signed.returncode == 0, signed.stdout + signed.stderr
        link = re.search(re.escape(url) + r"(/aanvraag/[A-Za-z0-9_-]+)", request_mail)
        assert link
        upload_page = technical.get(link.group(1)).text
        signed_file = tmp_path / sign[sign.index("-o") + 1]
        uploaded = technical.post(
            link.group(1) + "/document",
            data={"csrf": csrf_of(upload_page)},
            files={"document": (signed_file.name, signed_file.read_bytes(), "application/xml")},
        )
        assert uploaded.status_code == 303, uploaded.text
        assert "gedaan=document" in uploaded.headers["location"]

        # The portal administrator confirms the address and gives the details.
        details_mail = mailbox.open(ADMINISTRATOR[1], lambda page: "/gegevens/" in page)
        details = re.search(r"(/gegevens/[A-Za-z0-9_-]+)", details_mail)
        assert details
        admin = Browser(url)
        path = details.group(1)
        confirmed = admin.post(f"{path}/bevestigen", data={"csrf": csrf_of(admin.get(path).text)})
        assert confirmed.status_code == 303, confirmed.text
        given = admin.post(
            path,
            data={
                "csrf": csrf_of(admin.get(path).text),
                "full_name": ADMINISTRATOR[0],
                "birth_date": "1980-05-17",
                "phone": "+31612345678",
            },
        )
        assert given.status_code == 303, given.text

        # The operator approves in the back office.
        queue = operator.get("/beheer").text
        request_id = re.search(r"/beheer/aanvragen/([A-Za-z0-9_-]+)", queue)
        assert request_id
        detail_path = f"/beheer/aanvragen/{request_id.group(1)}"
        detail = operator.get(detail_path).text
        approved = operator.post(f"{detail_path}/goedkeuren", data={"csrf": csrf_of(detail)})
        assert approved.status_code in {200, 303}, approved.text

        # The approval mail: save the QR, activate the administrator's app, log in.
        approval = mailbox.open(ADMINISTRATOR[1], lambda page: "activatie-qr.png" in page)
        mailbox.download(approval, "activatie-qr.png", tmp_path / admin_activate[-1])
        activated = _zorgid([*admin_activate, "--pin-stdin"], tmp_path, PIN + "\n")
        assert activated.returncode == 0, activated.stdout + activated.stderr
        portal = _logged_in(url, tmp_path / admin_activate[3]).get("/").text
        assert ADMINISTRATOR[0] in portal
        assert name.group(1).strip() in portal

        # Ctrl+C stops the service cleanly.
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
