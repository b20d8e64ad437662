from __future__ import annotations

import asyncio
import io
import re
from typing import TYPE_CHECKING

import httpx
import pytest
from PIL import Image

from zorgid.bootstrap import build
from zorgid.mail.compose import Attachment, compose
from zorgid.mail.sender import SmtpSender
from zorgid.settings import Settings
from zorgid.web.app import create_app
from zorgid.web.catcher import catcher_router

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from fastapi import FastAPI

    from zorgid.mail.catcher import CaughtMessage, MailCatcher


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()


def _only_our_scripts(html: str) -> bool:
    """Every script of the page is one of ours from /static (none from a mail's text)."""
    return all(
        re.fullmatch(r'<script src="/static/[a-z0-9./-]+"( defer)?>', tag)
        for tag in re.findall(r"<script[^>]*>", html)
    )


PDF = b"%PDF-1.4 not really"


class Client:
    """Requests straight into the ASGI app (no server, no deprecated TestClient)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, path: str) -> httpx.Response:
        async def fetch() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(
                transport=transport, base_url="https://zorgid.test"
            ) as client:
                return await client.get(path)

        return asyncio.run(fetch())


@pytest.fixture
def client(tmp_path: Path, mail_catcher: MailCatcher) -> Iterator[Client]:
    # The pages read only the catcher: one database (SQLite, untouched) is enough.
    settings = Settings(data_dir=tmp_path, public_url="https://zorgid.test")
    container = build(settings, create_keys=True)
    app = create_app(container)
    app.include_router(catcher_router(mail_catcher))
    try:
        yield Client(app)
    finally:
        container.close()


def _send(
    catcher: MailCatcher, subject: str, text: str = "Beste Jan,\n<script>alert(1)</script>"
) -> CaughtMessage:
    message = compose(
        sender="ZORG-ID <noreply@zorgid.test>",
        recipient="jan@praktijk.test",
        subject=subject,
        text=text,
        reply_to="aanvraag+abc@zorgid.test",
        attachments=[
            Attachment("logo.png", "image/png", PNG),
            Attachment('aanvraag "1".pdf', "application/pdf", PDF),
        ],
        message_id_domain="zorgid.test",
    )
    SmtpSender(catcher.host, catcher.port).send(
        "noreply@zorgid.test", "jan@praktijk.test", message.as_bytes()
    )
    return catcher.wait_for(lambda m: m.subject == subject)


def test_the_mailbox_lists_messages_newest_first(client: Client, mail_catcher: MailCatcher) -> None:
    older = _send(mail_catcher, "Eerste bericht")
    newer = _send(mail_catcher, "Tweede bericht")

    page = client.get("/demo/post?lang=en")

    assert page.status_code == 200
    assert page.text.index("Tweede bericht") < page.text.index("Eerste bericht")
    assert f'href="/demo/post/{newer.id}"' in page.text
    assert f'href="/demo/post/{older.id}"' in page.text
    assert "jan@praktijk.test" in page.text


def test_an_empty_mailbox_says_so(client: Client) -> None:
    page = client.get("/demo/post?lang=en")

    assert page.status_code == 200
    assert "No e-mail yet." in page.text


def test_a_message_page_shows_headers_text_and_attachments(
    client: Client, mail_catcher: MailCatcher
) -> None:
    mail = _send(mail_catcher, "Uw aanvraag")

    page = client.get(f"/demo/post/{mail.id}?lang=en")

    assert page.status_code == 200
    assert "aanvraag+abc@zorgid.test" in page.text
    assert "ZORG-ID &lt;noreply@zorgid.test&gt;" in page.text
    assert re.search(r"<pre[^>]*>Beste Jan,\n&lt;script&gt;", page.text)
    assert f'<img src="/demo/post/{mail.id}/bijlage/1"' in page.text
    assert f'href="/demo/post/{mail.id}/bijlage/2"' in page.text
    assert page.text.count("<img") == 1
    assert _only_our_scripts(page.text)


def test_the_services_own_links_are_clickable_and_others_are_not(
    client: Client, mail_catcher: MailCatcher
) -> None:
    mail = _send(
        mail_catcher,
        "Links",
        'Upload: https://zorgid.test/aanvraag/abc.\nElders: https://evil.test/x"><b>',
    )

    page = client.get(f"/demo/post/{mail.id}")

    assert '<a href="https://zorgid.test/aanvraag/abc">https://zorgid.test/aanvraag/abc</a>.' in (
        page.text
    )
    assert 'href="https://evil.test' not in page.text
    assert "&lt;b&gt;" in page.text


def test_attachments_download_with_their_type_and_images_show_inline(
    client: Client, mail_catcher: MailCatcher
) -> None:
    mail = _send(mail_catcher, "Uw aanvraag")

    image = client.get(f"/demo/post/{mail.id}/bijlage/1")
    document = client.get(f"/demo/post/{mail.id}/bijlage/2")

    assert image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith('inline; filename="logo.png"')
    assert document.content == PDF
    assert document.headers["content-type"] == "application/pdf"
    assert document.headers["content-disposition"] == (
        "attachment; filename=\"aanvraag _1_.pdf\"; filename*=UTF-8''aanvraag%20%221%22.pdf"
    )


def test_the_raw_message_downloads_as_eml(client: Client, mail_catcher: MailCatcher) -> None:
    mail = _send(mail_catcher, "Uw aanvraag")

    raw = client.get(f"/demo/post/{mail.id}/bericht.eml")

    assert raw.content == mail.raw
    assert raw.headers["content-type"] == "message/rfc822"
    assert raw.headers["content-disposition"].startswith('attachment; filename="bericht.eml"')


@pytest.mark.parametrize(
    "path",
    [
        "/demo/post/0123456789",
        "/demo/post/not-an-id",
        "/demo/post/{id}/bijlage/3",
        "/demo/post/{id}/bijlage/0",
        "/demo/post/{id}/bijlage/-1",
        "/demo/post/0123456789/bericht.eml",
        "/demo/post/0123456789/bijlage/1",
    ],
)
def test_unknown_messages_and_attachments_are_404_pages(
    client: Client, mail_catcher: MailCatcher, path: str
) -> None:
    mail = _send(mail_catcher, "Uw aanvraag")

    page = client.get(path.format(id=mail.id) + "?lang=en")

    assert page.status_code == 404
    assert "This page does not exist." in page.text
    assert _only_our_scripts(page.text)
