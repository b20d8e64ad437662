from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zorgid.mail.compose import Attachment, compose
from zorgid.mail.errors import (
    InboundMailError,
    MailMalformedError,
    MailTooComplexError,
    MailTooLargeError,
)
from zorgid.mail.inbound import (
    InboundLimits,
    new_mail_token,
    parse_inbound,
    reply_address,
    token_from_address,
)

HEADERS = b"From: Jan <jan@praktijk.test>\r\nTo: aanvraag@zorgid.test\r\nSubject: Re: aanvraag\r\n"


def _reply(*attachments: Attachment, text: str = "Hierbij het document.") -> bytes:
    return compose(
        sender="Jan <jan@praktijk.test>",
        recipient="aanvraag+x@zorgid.test",
        subject="Re: Uw aanvraag",
        text=text,
        attachments=attachments,
        message_id_domain="praktijk.test",
    ).as_bytes()


def _nested(depth: int) -> bytes:
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (level, level)
        for level in range(depth)
    )
    closing = b"".join(b"\r\n--b%d--\r\n" % level for level in reversed(range(depth)))
    return HEADERS + opening + b"Content-Type: text/plain\r\n\r\nbinnenin" + closing


def test_a_reply_with_the_signed_document_is_read() -> None:
    document = Attachment("organisatiedocument.xml", "application/xml", b"<doc/>")

    mail = parse_inbound(_reply(document))

    assert mail.sender == "jan@praktijk.test"
    assert mail.subject == "Re: Uw aanvraag"
    assert mail.text == "Hierbij het document.\n"
    assert mail.message_id is not None
    assert mail.message_id.endswith("@praktijk.test>")
    assert mail.attachments == (document,)


def test_a_mail_over_the_size_limit_is_refused_before_parsing() -> None:
    raw = _reply(Attachment("scan.pdf", "application/pdf", bytes(800_000)))

    with pytest.raises(MailTooLargeError) as refused:
        parse_inbound(raw, InboundLimits(max_bytes=1_048_576))

    assert refused.value.code == "mail_too_large"
    assert "at most 1 MB" in refused.value.public_message("en")


def test_attachments_together_over_their_limit_are_refused() -> None:
    raw = _reply(
        Attachment("a.pdf", "application/pdf", bytes(30_000)),
        Attachment("b.pdf", "application/pdf", bytes(30_000)),
    )

    with pytest.raises(MailTooLargeError) as refused:
        parse_inbound(raw, InboundLimits(max_attachments_bytes=50_000))

    assert refused.value.params["limit_mb"] == "0.0477"


def test_a_mime_bomb_nested_ten_thousand_deep_is_refused_by_the_prescan() -> None:
    raw = _nested(10_000)
    assert len(raw) < 1_048_576

    with pytest.raises(MailTooComplexError) as refused:
        parse_inbound(raw)

    assert "nested containers" in refused.value.detail


def test_deep_nesting_that_passes_a_generous_prescan_is_still_refused() -> None:
    limits = InboundLimits(max_bytes=10_000_000, max_parts=1_000_000, max_depth=1_000_000)

    with pytest.raises(MailTooComplexError):
        parse_inbound(_nested(5_000), limits)


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    with pytest.raises(MailTooComplexError) as refused:
        parse_inbound(_nested(7), InboundLimits(max_depth=5))

    assert "deeper" in refused.value.detail
    assert parse_inbound(_nested(4), InboundLimits(max_depth=5)).text == "binnenin"


def test_forwarded_messages_count_as_nesting() -> None:
    inner = HEADERS + b"\r\nbinnenste"
    raw = inner
    for _ in range(6):
        raw = HEADERS + b"Content-Type: message/rfc822\r\n\r\n" + raw

    with pytest.raises(MailTooComplexError):
        parse_inbound(raw, InboundLimits(max_depth=5))


def test_too_many_parts_are_refused() -> None:
    raw = _reply(*(Attachment(f"{n}.txt", "text/plain", b"x") for n in range(25)))

    with pytest.raises(MailTooComplexError) as refused:
        parse_inbound(raw, InboundLimits(max_parts=20))

    assert "parts" in refused.value.detail


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage without headers",
        b"Subject: no sender\r\n\r\nbody",
        b"From: not an address\r\n\r\nbody",
        b"From: a@x.test, b@x.test\r\n\r\nbody",
    ],
    ids=["empty", "garbage", "no-from", "bad-from", "two-froms"],
)
def test_malformed_mail_is_refused(raw: bytes) -> None:
    with pytest.raises(MailMalformedError) as refused:
        parse_inbound(raw)

    assert "not a well-formed e-mail message" in refused.value.public_message("en")


def test_the_text_is_the_first_plain_body_decoded_and_truncated() -> None:
    raw = (
        HEADERS + b"Content-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\xfcezi "
        + b"x" * 100
        + b"\r\n--B\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--B--\r\n"
    )

    mail = parse_inbound(raw, InboundLimits(max_text_chars=10))

    assert mail.text == "Grüezi xxx"


def test_an_unknown_charset_is_read_as_utf8() -> None:
    raw = HEADERS + b"Content-Type: text/plain; charset=x-unheard-of\r\n\r\nZo\xc3\xab"

    assert parse_inbound(raw).text == "Zoë"


def test_attachment_names_lose_paths_and_control_characters() -> None:
    raw = (
        HEADERS + b"Content-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nzie bijlage\r\n"
        b"--B\r\nContent-Type: application/xml\r\n"
        b'Content-Disposition: attachment; filename="../../etc/passwd"\r\n\r\n<x/>\r\n'
        b"--B\r\nContent-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\nno name\r\n"
        b"--B--\r\n"
    )

    mail = parse_inbound(raw)

    assert mail.text == "zie bijlage"
    assert [a.filename for a in mail.attachments] == ["_.._etc_passwd", "attachment"]
    assert mail.attachments[1].data == b"no name"


MIME_FRAGMENTS = st.sampled_from(
    [
        b"From: a@b.test\r\n",
        b"Subject: =?utf-8?q?x=ZZ?=\r\n",
        b"Subject: =?x-bogus?b?////?=\r\n",
        b"Message-ID: <\r\n",
        b"Content-Type: multipart/mixed; boundary=B\r\n",
        b'Content-Type: multipart/alternative; boundary=""\r\n',
        b"Content-Type: message/rfc822\r\n",
        b"Content-Type: message/delivery-status\r\n",
        b'Content-Type: text/plain; charset="utf-\xff"\r\n',
        b"Content-Disposition: attachment; filename*=utf-8''%ZZ%FF\r\n",
        b"Content-Disposition: attachment; filename*0*=x''a; filename*1=b\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Transfer-Encoding: x-uuencode\r\n",
        b"begin 644 x\r\n",
        b"--B\r\n",
        b"--B--\r\n",
        b"\r\n",
        b"=?=\r\n",
        b"YWJj\r\n",
        b"\xc3\x28\r\n",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2000), st.lists(MIME_FRAGMENTS, max_size=60).map(b"".join)))
def test_parse_inbound_raises_only_its_own_errors_on_any_bytes(raw: bytes) -> None:
    try:
        mail = parse_inbound(raw, InboundLimits(max_bytes=1500))
    except InboundMailError:
        return
    assert "@" in mail.sender
    assert len(mail.text) <= InboundLimits().max_text_chars


def test_mail_tokens_are_32_lowercase_base32_characters_and_unique() -> None:
    tokens = {new_mail_token() for _ in range(100)}

    assert len(tokens) == 100
    assert all(re.fullmatch(r"[a-z2-7]{32}", token) for token in tokens)


def test_a_reply_address_gives_its_token_back_in_any_case() -> None:
    token = new_mail_token()
    address = reply_address(token, domain="zorgid.test")

    assert address == f"aanvraag+{token}@zorgid.test"
    assert token_from_address(address, domain="zorgid.test") == token
    assert token_from_address(address.upper(), domain="ZorgID.test") == token
    assert token_from_address(f"<{address}>", domain="zorgid.test") == token
    other = reply_address(token, local="post", domain="zorgid.test")
    assert token_from_address(other, local="post", domain="zorgid.test") == token


@pytest.mark.parametrize(
    "address",
    [
        "aanvraag@zorgid.test",
        "aanvraag+@zorgid.test",
        "aanvraag+" + "a" * 31 + "@zorgid.test",
        "aanvraag+" + "a" * 33 + "@zorgid.test",
        "aanvraag+" + "a" * 31 + "1@zorgid.test",
        "aanvraag+" + "a" * 32 + "@zorgid.test.evil.example",
        "other+" + "a" * 32 + "@zorgid.test",
        "aanvraag+" + "a" * 32 + "@zorgid.test>",
        "x aanvraag+" + "a" * 32 + "@zorgid.test",
    ],
)
def test_addresses_that_are_not_ours_have_no_token(address: str) -> None:
    assert token_from_address(address, domain="zorgid.test") is None


def test_a_reply_address_needs_a_real_token() -> None:
    with pytest.raises(ValueError, match="not a mail token"):
        reply_address("A" * 32, domain="zorgid.test")
