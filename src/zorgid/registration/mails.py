"""The e-mails of a registration, in Dutch and then English (the organisation may read either).

Each function returns a :class:`Letter`: subject and body as :class:`Message` parts, rendered in
both languages by :func:`render`. The service composes and queues them in the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from zorgid.core.i18n import N_, Message

if TYPE_CHECKING:
    import datetime as dt

    from zorgid.errors import ZorgidError
    from zorgid.mail.compose import Attachment


class Text(Protocol):
    """Anything that can be said in a language."""

    def render(self, lang: str) -> str:
        """The text in ``lang``."""
        ...


@dataclass(frozen=True)
class ErrorText:
    """An error's public message, as a paragraph."""

    error: ZorgidError

    def render(self, lang: str) -> str:
        """The error's message in ``lang``."""
        return self.error.public_message(lang)


LANGUAGES = ("nl", "en")
DIVIDER = {"nl": "", "en": "--- English ---"}


@dataclass(frozen=True)
class Letter:
    """One e-mail's words and files, not yet in a language."""

    subject: Message
    paragraphs: tuple[Text, ...]
    attachments: tuple[Attachment, ...] = field(default=())


def render(letter: Letter) -> tuple[str, str]:
    """Subject ("Dutch / English") and body (Dutch, then English)."""
    subject = " / ".join(dict.fromkeys(letter.subject.render(lang) for lang in LANGUAGES))
    blocks = []
    for lang in LANGUAGES:
        text = "\n\n".join(p.render(lang) for p in letter.paragraphs)
        blocks.append(f"{DIVIDER[lang]}\n\n{text}" if DIVIDER[lang] else text)
    return subject, "\n\n\n".join(blocks) + "\n"


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _m(msgid: str, **params: object) -> Message:
    return Message(msgid, params)


SIGNATURE = _m(N_("Kind regards,\n{service}"), service="ZORG-ID")


def request_letter(  # noqa: PLR0913 - the facts a request e-mail states
    *,
    number: str,
    organisation: str,
    ura: str,
    asked_at: dt.datetime,
    form_url: str,
    contact: str,
    upload_url: str,
    deadline: dt.datetime,
    document: Attachment,
    service: str,
) -> Letter:
    """To the technical administrator: sign the attached document and reply with it.

    Anyone can fill in the public form with anyone's address, so the letter first says plainly
    who asked (someone, on the form, at that time) and what to do if it was not the reader.
    Of what was typed it repeats only the organisation's name (checked: no links, no
    addresses) and the URA number (8 digits).
    """
    return Letter(
        subject=_m(
            N_("[{number}] Your ZORG-ID request: sign the organisation document"), number=number
        ),
        paragraphs=(
            _m(
                N_(
                    "On {asked_at} someone asked on the public form of {service} ({form_url}) "
                    "to register the care organisation {organisation} (URA {ura}), and gave "
                    "this e-mail address for its technical administrator. The request number "
                    "is {number}."
                ),
                asked_at=_when(asked_at),
                service=service,
                form_url=form_url,
                organisation=organisation,
                ura=ura,
                number=number,
            ),
            _m(
                N_(
                    "Was this not you, or did you not expect this e-mail? Then you can ignore "
                    "it: nothing happens without a document signed with the organisation's "
                    "UZI server certificate, and the request expires by itself on {deadline}. "
                    "Questions, or more e-mails like this one: contact {contact}."
                ),
                deadline=_when(deadline),
                contact=contact,
            ),
            _m(
                N_(
                    "If it was you: the organisation document is attached, prefilled with "
                    "what was entered. To prove that you act for the organisation, sign it "
                    "with the private key of the organisation's UZI server certificate:"
                )
            ),
            _m(
                N_(
                    "1. Install the validation tool: pip install zorgid (or ask your IT "
                    "supplier).\n"
                    "2. Check and complete the document: zorgid validatietool fill {file}\n"
                    "3. Sign it: zorgid validatietool sign {file} --pkcs12 server.p12 -o "
                    "signed.xml\n"
                    "4. Reply to this e-mail with only signed.xml attached. Do not change the "
                    "reply address: it identifies your request."
                ),
                file=document.filename,
            ),
            _m(
                N_("You can also upload the signed file on this page: {url}"),
                url=upload_url,
            ),
            _m(
                N_(
                    "Please do this before {deadline}; after that the request expires. The "
                    "document can be used for this request only, and only once."
                ),
                deadline=_when(deadline),
            ),
            SIGNATURE,
        ),
        attachments=(document,),
    )


def document_accepted_letter(  # noqa: PLR0913 - what was accepted, field by field
    *,
    number: str,
    organisation: str,
    ura: str,
    technical: str,
    admin: str,
    admin_email: str,
    applications: str,
    signer: str,
    serial: str,
) -> Letter:
    """To the technical administrator: the signed document was accepted, and what it said."""
    return Letter(
        subject=_m(N_("[{number}] Signed organisation document accepted"), number=number),
        paragraphs=(
            _m(
                N_(
                    "We received the signed organisation document of {organisation} (URA "
                    "{ura}) and it is valid: the signature, the UZI server certificate and the "
                    "request all check out."
                ),
                organisation=organisation,
                ura=ura,
            ),
            _m(
                N_(
                    "What we accepted:\n"
                    "Organisation: {organisation} (URA {ura})\n"
                    "Technical administrator: {technical}\n"
                    "Portal administrator: {admin} <{admin_email}>\n"
                    "Applications: {applications}\n"
                    "Signed with the certificate of: {signer} (serial number {serial})"
                ),
                organisation=organisation,
                ura=ura,
                technical=technical,
                admin=admin,
                admin_email=admin_email,
                applications=applications,
                signer=signer,
                serial=serial,
            ),
            _m(
                N_(
                    "Next, {admin}, the portal administrator, receives an e-mail asking for "
                    "some personal details. There is nothing more you need to do."
                ),
                admin=admin,
            ),
            SIGNATURE,
        ),
    )


def document_refused_letter(*, number: str, reason: Text) -> Letter:
    """To the technical administrator: what was wrong with what they sent, and what to do."""
    return Letter(
        subject=_m(N_("[{number}] Your reply could not be accepted"), number=number),
        paragraphs=(
            _m(
                N_(
                    "We received your reply to request {number}, but could not accept it. "
                    "Nothing has changed in your request. What was wrong:"
                ),
                number=number,
            ),
            reason,
            _m(
                N_(
                    "Please correct this and reply to the request e-mail again (or use the "
                    "upload page from that e-mail)."
                )
            ),
            SIGNATURE,
        ),
    )


def details_letter(
    *, number: str, organisation: str, admin: str, url: str, deadline: dt.datetime
) -> Letter:
    """To the portal administrator: confirm the address and give personal details."""
    return Letter(
        subject=_m(N_("[{number}] ZORG-ID: your details as portal administrator"), number=number),
        paragraphs=(
            _m(N_("Dear {admin},"), admin=admin),
            _m(
                N_(
                    "{organisation} is registering for ZORG-ID and named you as its portal "
                    "administrator. Please confirm your e-mail address and give your details "
                    "on this page: {url}"
                ),
                organisation=organisation,
                url=url,
            ),
            _m(
                N_(
                    "Please do this before {deadline}. If you did not expect this e-mail, you "
                    "can ignore it."
                ),
                deadline=_when(deadline),
            ),
            SIGNATURE,
        ),
    )


def approved_letter(  # noqa: PLR0913 - the facts an activation e-mail states
    *,
    number: str,
    admin: str,
    organisation: str,
    activation: Attachment,
    qr_text: str,
    expires: dt.datetime,
) -> Letter:
    """To the portal administrator: the request is approved; activate the app with the QR."""
    return Letter(
        subject=_m(N_("[{number}] ZORG-ID approved: activate your mobile ID"), number=number),
        paragraphs=(
            _m(N_("Dear {admin},"), admin=admin),
            _m(
                N_(
                    "The registration of {organisation} has been approved. You are its portal "
                    "administrator. Activate your mobile ID now:"
                ),
                organisation=organisation,
            ),
            _m(
                N_(
                    "1. Install the ZORG-ID app and choose a PIN of 5 digits.\n"
                    "2. Scan the attached QR code ({file}) with the app. With the reference "
                    "app: zorgid app --home ~/zorgid-app activate {file}\n"
                    '3. The app shows your name under "ID".\n'
                    "4. Open the portal ({portal}) and scan the QR code shown there with the "
                    "app to log in."
                ),
                file=activation.filename,
                portal=qr_text.split("/app/", 1)[0] + "/",
            ),
            _m(
                N_(
                    "The QR code works once and only for you, until {expires}. If scanning "
                    "does not work, the app also accepts this text: {text}"
                ),
                expires=_when(expires),
                text=qr_text,
            ),
            SIGNATURE,
        ),
        attachments=(activation,),
    )


def existing_administrator_letter(
    *, number: str, admin: str, organisation: str, portal: str
) -> Letter:
    """To an administrator who already has an active app: log in with it."""
    return Letter(
        subject=_m(N_("[{number}] ZORG-ID approved: you are portal administrator"), number=number),
        paragraphs=(
            _m(N_("Dear {admin},"), admin=admin),
            _m(
                N_(
                    "The registration of {organisation} has been approved. You are its portal "
                    "administrator. You already use the ZORG-ID app, so there is nothing to "
                    "activate: open the portal ({portal}) and log in by scanning the QR code "
                    "shown there with your app."
                ),
                organisation=organisation,
                portal=portal,
            ),
            _m(
                N_(
                    "Did you not expect this? Then contact the ZORG-ID operator: someone named "
                    "you as administrator of {organisation}."
                ),
                organisation=organisation,
            ),
            SIGNATURE,
        ),
    )


def status_letter(*, number: str, what: Message) -> Letter:
    """To the technical administrator: the request was approved, rejected, withdrawn or expired."""
    return Letter(
        subject=_m(N_("[{number}] Your ZORG-ID request"), number=number),
        paragraphs=(what, SIGNATURE),
    )


APPROVED_NOTICE = N_(
    "Request {number} of {organisation} has been approved. The portal administrator has "
    "received an e-mail to activate the mobile ID."
)
REJECTED_NOTICE = N_(
    "Request {number} of {organisation} has been rejected. The reason: {reason}\n\nYou can "
    "submit a new request at {url}"
)
WITHDRAWN_NOTICE = N_(
    "Request {number} of {organisation} has been withdrawn, as asked. Nothing more will "
    "happen with it."
)
EXPIRED_NOTICE = N_(
    "Request {number} of {organisation} has expired because the next step was not taken in "
    "time. You can submit a new request at {url}"
)
