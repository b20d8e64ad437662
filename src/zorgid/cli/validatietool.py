"""``zorgid validatietool``: fill, sign, verify and inspect the organisation document.

The cross-platform replacement of the Windows-only ZORG-ID Validatietool; contracts in
formats.md. Each command parses its options, calls the core once, and renders the outcome.
"""

from __future__ import annotations

import datetime as dt
import os
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from zorgid.cli.output import (
    EXIT_OK,
    EXIT_REFUSED,
    Out,
    lang_option,
    out_for,
    read_file,
    stdin_is_terminal,
    write_file_atomically,
)
from zorgid.cli.views import certificate_view, iso, organisation_view
from zorgid.core.clock import Clock, FixedClock, SystemClock
from zorgid.core.i18n import N_, Message
from zorgid.errors import ZorgidError
from zorgid.orgdoc.document import (
    DSIG_NS,
    FIELDS,
    MAX_DOCUMENT_BYTES,
    ROOT_TAG,
    DocumentIncompleteError,
    DocumentSchemaError,
    Field,
    InvalidCharacterError,
    OrganisationDocument,
    build_tree,
    check_schema,
    from_tree,
    normalise,
    parse_untrusted,
    serialise,
)
from zorgid.orgdoc.keys import Signer, software_signer
from zorgid.orgdoc.signature import locate_signature, sign_tree, signed_content
from zorgid.orgdoc.verify import (
    DocumentVerifier,
    Expectations,
    VerificationReport,
    check_binding,
)
from zorgid.pki.errors import CertificateFormatError
from zorgid.pki.loading import load_certificates, load_pkcs12, load_private_key
from zorgid.pki.revocation import CrlFileSource, CrlUrlSource, OcspClient, RevocationChecker
from zorgid.pki.trust import (
    CertificateValidator,
    Purpose,
    TrustConfig,
    check_card_and_time,
)
from zorgid.pki.uzi import CardType, UziCertificate, read_certificate

if TYPE_CHECKING:
    from cryptography import x509

MAX_SECRET_FILE = 4096


class UsageError(ZorgidError):
    """A combination of options that does not work."""

    code = "usage"
    message = N_("{reason}")
    exit_code = 2


@click.group(name="validatietool")
def validatietool() -> None:
    """De ZORG-ID validatietool: organisatiedocument invullen, ondertekenen, controleren.

    The ZORG-ID validation tool: fill in, sign, verify the organisation document.
    """


# --- fill ----------------------------------------------------------------------------------


def _parse_set(values: tuple[str, ...]) -> list[tuple[str, str]]:
    pairs = []
    for item in values:
        path, sep, value = item.partition("=")
        if not sep:
            raise UsageError(
                reason=Message(
                    N_("--set {item}: use PATH=VALUE, e.g. Organisatie/URA=12345678"),
                    {"item": item},
                )
            )
        pairs.append((path.strip(), value))
    return pairs


def _read_document(path: Path) -> OrganisationDocument:
    root = parse_untrusted(read_file(path, limit=MAX_DOCUMENT_BYTES))
    if root.tag != ROOT_TAG:
        raise DocumentSchemaError(
            str(root.tag), reason=N_("the file is not an organisation document (version 1)")
        )
    if root.find(f"{{{DSIG_NS}}}Signature") is not None:
        locate_signature(root)
    return from_tree(root)


def _ask_missing(out: Out, document: OrganisationDocument) -> tuple[OrganisationDocument, bool]:
    """Ask a person at a terminal for every missing or wrong field, checking each answer.

    Optional fields that are still empty are offered too; Enter leaves them empty. Returns the
    document with every answer given so far, and whether the person stopped (Ctrl-C, end of
    input) before the end.
    """
    try:
        for field in FIELDS:
            document = _ask_field(out, document, field)
    except click.Abort:
        return document, True
    return document, False


def _ask_field(out: Out, document: OrganisationDocument, field: Field) -> OrganisationDocument:
    wrong = any(p.path == field.path for p in document.problems())
    if not wrong and (field.required or document.get(field.path)):
        return document
    label = f"{out._(field.label)} [{field.path}] ({out._(field.hint)})"
    while True:
        current = document.get(field.path)
        answer = click.prompt(label, default=current, show_default=bool(current))
        if not answer.strip() and not field.required:
            return document
        try:
            candidate = document.with_values([(field.path, normalise(field.path, answer))])
        except InvalidCharacterError as error:
            out.say(error.message, path=field.path)
            continue
        if not any(p.path == field.path for p in candidate.problems()):
            return candidate
        if not answer.strip():
            out.say(N_("This field is required."))
        else:
            out.say(N_("That is not valid: {hint}. Try again."), hint=out._(field.hint))


def _problems_text(out: Out, document: OrganisationDocument) -> str:
    hints = {f.path: out._(f.hint) for f in FIELDS}
    return "\n".join(
        f"  - {p.path}: " + out._(p.message, value=p.value, hint=hints[p.path], limit=p.limit)
        for p in document.problems()
    )


@validatietool.command()
@click.argument("doc", required=False, type=click.Path(path_type=Path))
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="PATH=VALUE",
    help="Veld invullen / set a field, e.g. Organisatie/URA=12345678 (repeatable).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Uitvoerbestand / output file (default: DOC itself, or standard output).",
)
@click.option("--no-input", is_flag=True, help="Nooit vragen stellen / never prompt.")
@lang_option
def fill(
    *,
    doc: Path | None,
    settings: tuple[str, ...],
    output: Path | None,
    no_input: bool,
    lang: str | None,
) -> None:
    """Organisatiedocument aanmaken of aanvullen / create or complete the organisation document."""
    out = out_for(lang)
    with out.reporting():
        document = _read_document(doc) if doc else OrganisationDocument()
        document = document.with_values(_parse_set(settings))
        interrupted = False
        if document.problems() and stdin_is_terminal() and not no_input:
            out.say(N_("Some fields are missing or wrong. Fill them in (Enter keeps the value)."))
            document, interrupted = _ask_missing(out, document)
        document = replace(document, ondertekend=None)
        data = serialise(build_tree(document, keep_empty=True))
        complete = not document.problems()
        if complete:
            # The field rules say what the XSD says; checked before writing, so that a file
            # called complete always is.
            check_schema(parse_untrusted(data))
        target = output or doc
        if target is None:
            click.echo(data.decode(), nl=False)
        else:
            write_file_atomically(target, data)
        if target is not None:
            out.say(
                N_("Saved to {path}.") if complete else N_("Saved as a draft to {path}."),
                path=str(target),
            )
        if not complete:
            problems = _problems_text(out, document)
            if interrupted:
                out.say(N_("Stopped. What you entered so far is saved."))
            out.fail(DocumentIncompleteError(problems=problems))
        out.say(
            N_(
                "The document is complete. Next step: zorgid validatietool sign {path} -o "
                "{signed} --pkcs12 {certificate}"
            ),
            path=str(target or "organisatiedocument.xml"),
            signed=out._(N_("signed.xml")),
            certificate=out._(N_("<your-certificate.p12>")),
        )


# --- sign ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyFiles:
    """A key in files: a PKCS#12 bundle, or a PEM certificate and key."""

    pkcs12: Path | None
    cert: Path | None
    key: Path | None
    password_file: Path | None


@dataclass(frozen=True)
class TokenKey:
    """A key on a PKCS#11 token; the certificate may come from a file instead of the token."""

    module: str
    token_label: str
    key_label: str
    pin_file: Path | None
    cert: Path | None


def _secret(path: Path | None, *, prompt: str | None, out: Out) -> bytes | None:
    if path is not None:
        return read_file(path, limit=MAX_SECRET_FILE).rstrip(b"\r\n")
    if prompt and stdin_is_terminal():
        answer = click.prompt(out._(prompt), hide_input=True, default="", show_default=False)
        return str(answer).encode()
    return None


def _file_signer(out: Out, files: KeyFiles) -> Signer:
    if files.pkcs12 is not None:
        data = read_file(files.pkcs12)
        path = str(files.pkcs12)
        try:
            private, certificate, chain = load_pkcs12(data, path=path, password=None)
        except CertificateFormatError as first:
            if first.code != "pkcs12_password":
                raise
            password = _secret(
                files.password_file, prompt=N_("Password of the PKCS#12 file"), out=out
            )
            private, certificate, chain = load_pkcs12(data, path=path, password=password)
        return software_signer(private, certificate, chain)
    if files.cert is None or files.key is None:
        raise UsageError(reason=N_("--cert and --key go together: give both."))
    certificates = load_certificates(read_file(files.cert), path=str(files.cert))
    key_data = read_file(files.key)
    try:
        private = load_private_key(key_data, path=str(files.key), password=None)
    except CertificateFormatError:
        password = _secret(files.password_file, prompt=N_("Password of the private key"), out=out)
        if password is None:
            raise
        private = load_private_key(key_data, path=str(files.key), password=password)
    return software_signer(private, certificates[0], certificates[1:])


def _token_signer(stack: ExitStack, out: Out, token: TokenKey) -> Signer:
    from zorgid.orgdoc.pkcs11 import open_pkcs11_signer  # noqa: PLC0415 - loads a native module

    pin = _secret(token.pin_file, prompt=N_("PIN of the token"), out=out)
    certificate = (
        load_certificates(read_file(token.cert), path=str(token.cert))[0] if token.cert else None
    )
    signer = open_pkcs11_signer(
        token.module,
        token.token_label,
        token.key_label,
        pin.decode() if pin is not None else None,
        certificate=certificate,
    )
    return stack.enter_context(signer)


def _key_source(  # noqa: PLR0913 - one argument per key option of formats.md
    *,
    pkcs12: Path | None,
    password_file: Path | None,
    cert: Path | None,
    key: Path | None,
    module: str | None,
    token_label: str | None,
    key_label: str | None,
    pin_file: Path | None,
) -> KeyFiles | TokenKey:
    token_given = bool(module or token_label or key_label)
    # With a token, --cert may supply the certificate when the token holds only the key.
    pem_given = bool(key or (cert and not token_given))
    if [bool(pkcs12), pem_given, token_given].count(True) != 1:
        raise UsageError(
            reason=N_(
                "Choose exactly one key: --pkcs12 FILE, or --cert PEM --key PEM, or "
                "--pkcs11-module LIB --token-label L --key-label K"
            )
        )
    if token_given:
        if not (module and token_label and key_label):
            raise UsageError(
                reason=N_("For a token give --pkcs11-module, --token-label and --key-label.")
            )
        return TokenKey(module, token_label, key_label, pin_file, cert)
    if pem_given and not (cert and key):
        raise UsageError(reason=N_("--cert and --key go together: give both."))
    return KeyFiles(pkcs12, cert, key, password_file)


@validatietool.command()
@click.argument("doc", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Ondertekend bestand / signed output file.",
)
@click.option("--pkcs12", type=click.Path(path_type=Path), help="PKCS#12 (.p12/.pfx) file.")
@click.option(
    "--password-file",
    type=click.Path(path_type=Path),
    help="Bestand met het wachtwoord / file holding the password.",
)
@click.option("--cert", type=click.Path(path_type=Path), help="Certificaat (PEM).")
@click.option("--key", type=click.Path(path_type=Path), help="Private key (PEM).")
@click.option("--pkcs11-module", help="PKCS#11 module (.so/.dll) of the token or HSM.")
@click.option("--token-label", help="Label of the token.")
@click.option("--key-label", help="Label of the key on the token.")
@click.option("--pin-file", type=click.Path(path_type=Path), help="File holding the token PIN.")
@lang_option
def sign(  # noqa: PLR0913 - the options of formats.md
    *,
    doc: Path,
    output: Path,
    pkcs12: Path | None,
    password_file: Path | None,
    cert: Path | None,
    key: Path | None,
    pkcs11_module: str | None,
    token_label: str | None,
    key_label: str | None,
    pin_file: Path | None,
    lang: str | None,
) -> None:
    """Organisatiedocument ondertekenen / sign the organisation document."""
    out = out_for(lang)
    with out.reporting(), ExitStack() as stack:
        source = _key_source(
            pkcs12=pkcs12,
            password_file=password_file,
            cert=cert,
            key=key,
            module=pkcs11_module,
            token_label=token_label,
            key_label=key_label,
            pin_file=pin_file,
        )
        document = _read_document(doc)
        if document.problems():
            raise DocumentIncompleteError(problems=_problems_text(out, document))
        if isinstance(source, TokenKey):
            signer = _token_signer(stack, out, source)
        else:
            signer = _file_signer(out, source)
        now = SystemClock().now().replace(microsecond=0)
        document = replace(document, ondertekend=now)
        info = read_certificate(signer.certificate)
        # The receiver's checks that need no trust store, before anything is signed or sent.
        check_card_and_time(
            signer.certificate, info, at=now, purpose=Purpose.ORGANISATION_SIGNATURE
        )
        check_binding(document, info, Expectations())
        signed = sign_tree(build_tree(document), signer)
        # Check our own output as a receiver would before anyone relies on it.
        signed_content(signed)
        write_file_atomically(output, signed)
        out.say(
            N_("Signed with the certificate of {organisation} (URA {ura}), valid until {until}."),
            organisation=info.organisation_name or "?",
            ura=document.ura,
            until=iso(info.not_after),
        )
        out.say(
            N_(
                "Saved to {path}. Send this file as an attachment in your reply to the request "
                "e-mail."
            ),
            path=str(output),
        )


# --- verify --------------------------------------------------------------------------------


def _load_all(paths: tuple[Path, ...]) -> tuple[x509.Certificate, ...]:
    found: list[x509.Certificate] = []
    for path in paths:
        found.extend(load_certificates(read_file(path), path=str(path)))
    return tuple(found)


def _parse_at(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
        # Normalised here, where a time at the edge of the calendar can still be refused.
        return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise UsageError(
            reason=N_("--at needs an ISO 8601 time, e.g. 2026-11-28T12:00:00Z")
        ) from None


@validatietool.command()
@click.argument("doc", type=click.Path(path_type=Path))
@click.option(
    "--trust-anchor",
    "anchors",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Vertrouwd CA-certificaat / trusted CA (PEM).",
)
@click.option(
    "--intermediate",
    "intermediates",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Tussenliggend CA-certificaat / intermediate CA (PEM).",
)
@click.option(
    "--crl",
    "crls",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Intrekkingslijst / CRL file (DER or PEM).",
)
@click.option("--at", "at_text", help="Controletijdstip / verification time (ISO 8601).")
@click.option("--expect-ura", help="Verwachte URA / expected URA.")
@click.option("--expect-challenge", help="Verwachte uitdaging / expected challenge.")
@click.option("--json", "as_json", is_flag=True, help="Uitvoer als JSON / JSON output.")
@lang_option
def verify(  # noqa: PLR0913 - the options of formats.md
    *,
    doc: Path,
    anchors: tuple[Path, ...],
    intermediates: tuple[Path, ...],
    crls: tuple[Path, ...],
    at_text: str | None,
    expect_ura: str | None,
    expect_challenge: str | None,
    as_json: bool,
    lang: str | None,
) -> None:
    """Ondertekend organisatiedocument controleren / verify a signed organisation document."""
    out = out_for(lang, as_json=as_json)
    try:
        at = _parse_at(at_text)
        clock: Clock = FixedClock(at) if at else SystemClock()
        config = TrustConfig(
            anchors=_load_all(anchors),
            intermediates=_load_all(intermediates),
            revocation=revocation_for(crls, clock=clock),
        )
        data = read_file(doc, limit=MAX_DOCUMENT_BYTES)
    except ZorgidError as error:
        out.fail(error, extra={"valid": False})
    verifier = DocumentVerifier(validator=CertificateValidator(config), clock=clock)
    report = verifier.report(data, expect=Expectations(ura=expect_ura, challenge=expect_challenge))
    message = (
        out._(N_("The organisation document is validly signed."))
        if report.error is None
        else report.error.public_message(out.lang)
    )
    code = "valid" if report.error is None else report.error.code
    if as_json:
        payload: dict[str, Any] = {"valid": report.valid, "code": code, "message": message}
        if report.document is not None:
            payload["organisation"] = organisation_view(report.document)
        if report.certificate is not None:
            payload["certificate"] = certificate_view(report.certificate)
        out.emit_json(payload)
    else:
        _print_report(out, report, code, message)
    raise SystemExit(EXIT_OK if report.valid else EXIT_REFUSED)


def _print_report(out: Out, report: VerificationReport, code: str, message: str) -> None:
    if report.valid:
        out.say(N_("VALID: {message}"), message=message)
    else:
        click.echo(out._(N_("NOT VALID [{code}]: {message}"), code=code, message=message), err=True)
    document = report.document
    if document is not None:
        out.say(N_("  Organisation: {naam} (URA {ura})"), naam=document.naam, ura=document.ura)
        out.say(N_("  Request:      {number}"), number=document.aanvraagnummer)
        if document.ondertekend is not None:
            out.say(N_("  Signed at:    {moment}"), moment=iso(document.ondertekend))
    certificate = report.certificate
    if certificate is not None:
        out.say(N_("  Certificate:  {subject}"), subject=certificate.subject)
        out.say(N_("  Issued by:    {issuer}"), issuer=certificate.issuer)
        out.say(
            N_("  Valid:        {start} to {end}"),
            start=iso(certificate.not_before),
            end=iso(certificate.not_after),
        )


# --- inspect -------------------------------------------------------------------------------


@validatietool.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--password-file",
    type=click.Path(path_type=Path),
    help="Wachtwoord van het PKCS#12-bestand / PKCS#12 password file.",
)
@click.option("--json", "as_json", is_flag=True, help="Uitvoer als JSON / JSON output.")
@lang_option
def inspect(*, file: Path, password_file: Path | None, as_json: bool, lang: str | None) -> None:
    """Certificaat bekijken / show what a certificate says (PEM, DER, PKCS#12)."""
    out = out_for(lang, as_json=as_json)
    with out.reporting():
        data = read_file(file)
        password = (
            read_file(password_file, limit=MAX_SECRET_FILE).rstrip(b"\r\n")
            if password_file
            else None
        )
        certificates = load_certificates(data, path=str(file), password=password)
        info = read_certificate(certificates[0])
        if as_json:
            out.emit_json(certificate_view(info))
            return
        _print_certificate(out, info)


_CARD_NAMES = {
    CardType.ZORGVERLENER: N_("UZI-pas zorgverlener"),
    CardType.MEDEWERKER_OP_NAAM: N_("UZI-pas medewerker op naam"),
    CardType.MEDEWERKER_NIET_OP_NAAM: N_("UZI-pas medewerker niet op naam"),
    CardType.SERVER: N_("UZI server certificate"),
}


def _print_certificate(out: Out, info: UziCertificate) -> None:
    out.say(N_("Subject:      {value}"), value=info.subject)
    out.say(N_("Issuer:       {value}"), value=info.issuer)
    out.say(N_("Serial:       {value}"), value=info.serial)
    out.say(
        N_("Valid:        {start} to {end}"),
        start=iso(info.not_before),
        end=iso(info.not_after),
    )
    uzi = info.uzi
    if uzi is None:
        out.say(N_("This is not a UZI-register certificate (no UZI identification)."))
        return
    card = uzi.card_type
    out.say(N_("Type:         {kind} ({card})"), kind=out._(_CARD_NAMES[card]), card=card.value)
    out.say(N_("URA:          {value}"), value=uzi.ura)
    out.say(N_("UZI number:   {value}"), value=uzi.uzi_number)
    role = " ".join(filter(None, (uzi.role.code, uzi.role.profession)))
    if uzi.role.specialism:
        role += f", {uzi.role.specialism}"
    out.say(N_("Role:         {value}"), value=role)
    out.say(N_("AGB:          {value}"), value=uzi.agb)
    out.say(N_("Environment:  {value}"), value=uzi.environment)
    if info.upn:
        out.say(N_("UPN:          {value}"), value=info.upn)
    if info.permanent_identifier:
        out.say(
            N_("Permanent id: {value} ({assigner})"),
            value=info.permanent_identifier.value,
            assigner=info.permanent_identifier.assigner,
        )


def revocation_for(crls: tuple[Path, ...], *, clock: Clock) -> RevocationChecker:
    """CRL files when given; else the CRLs and OCSP responders named in the certificates."""
    if crls:
        return RevocationChecker(crl_sources=(CrlFileSource(crls),))
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "zorgid" / "crl"
    return RevocationChecker(
        crl_sources=(CrlUrlSource(cache_dir=cache, clock=clock),), ocsp=OcspClient()
    )
