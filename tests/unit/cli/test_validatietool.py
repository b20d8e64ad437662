"""`zorgid validatietool` and `zorgid pki init-test` exactly as formats.md describes them."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.support.orgdoc import CHALLENGE, VALUES
from zorgid.cli import validatietool as validatietool_module
from zorgid.orgdoc.document import FIELDS, NS
from zorgid.orgdoc.signature import signed_content

if TYPE_CHECKING:
    from pathlib import Path

    from click.testing import Result

    from tests.softhsm import SoftHsmToken
    from tests.unit.cli.conftest import PkiDir, Zorgid


def sets(*leave_out: str) -> list[str]:
    return [
        arg
        for path, value in VALUES.items()
        if not path.startswith(leave_out)
        for arg in ("--set", f"{path}={value}")
    ]


SETS = sets()


@pytest.fixture
def filled(tmp_path: Path, zorgid: Zorgid) -> Path:
    doc = tmp_path / "organisatiedocument.xml"
    assert zorgid("validatietool", "fill", "-o", doc, *SETS).exit_code == 0
    return doc


def sign_with_pkcs12(zorgid: Zorgid, doc: Path, out: Path, org: Path, *extra: str | Path) -> Result:
    return zorgid(
        "validatietool",
        "sign",
        doc,
        "-o",
        out,
        "--pkcs12",
        org / "server.p12",
        "--password-file",
        org / "server.p12.password",
        *extra,
    )


@pytest.fixture
def signed_file(tmp_path: Path, zorgid: Zorgid, filled: Path, pki_dir: PkiDir) -> Path:
    out = tmp_path / "ondertekend.xml"
    org = pki_dir.org()
    result = sign_with_pkcs12(zorgid, filled, out, org)
    assert result.exit_code == 0, result.output
    return out


def verify(
    zorgid: Zorgid, pki_dir: PkiDir, doc: Path, *extra: str | Path
) -> tuple[int, dict[str, Any]]:
    return zorgid.json(
        "validatietool",
        "verify",
        doc,
        "--trust-anchor",
        pki_dir.anchor,
        "--crl",
        pki_dir.crl,
        *extra,
    )


# --- pki init-test --------------------------------------------------------------------------------


def test_init_test_writes_the_hierarchy_and_says_what_it_made(
    tmp_path: Path, zorgid: Zorgid
) -> None:
    result = zorgid("pki", "init-test", tmp_path / "pki", "--lang", "en")
    assert result.exit_code == 0
    for name in (
        "ca/root.pem",
        "ca/server-ca.pem",
        "ca/zorgverlener-ca.pem",
        "ca/medewerker-ca.pem",
        "organisations/90000123/server.p12",
        "crl/server-ca.crl",
        "manifest.json",
    ):
        assert (tmp_path / "pki" / name).is_file()
        assert name in result.stdout
    assert (tmp_path / "pki" / "ca/private/root-key.pem").stat().st_mode & 0o077 == 0


def test_init_test_refuses_to_overwrite_unless_forced(tmp_path: Path, zorgid: Zorgid) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    refused = zorgid("pki", "init-test", tmp_path)
    assert refused.exit_code == 2
    assert "directory_not_empty" in refused.stderr
    assert zorgid("pki", "init-test", tmp_path, "--force").exit_code == 0


# --- inspect --------------------------------------------------------------------------------------


def test_inspect_json_has_the_fields_of_formats_md(zorgid: Zorgid, pki_dir: PkiDir) -> None:
    code, view = zorgid.json("validatietool", "inspect", pki_dir.org() / "server-cert.pem")
    assert code == 0
    assert set(view) == {
        "subject",
        "issuer",
        "serial",
        "not_before",
        "not_after",
        "uzi",
        "upn",
        "permanent_identifier",
    }
    assert set(view["uzi"]) == {
        "oid_ca",
        "version",
        "uzi_number",
        "card_type",
        "ura",
        "role",
        "agb",
        "environment",
    }
    assert view["uzi"]["card_type"] == "S"
    assert view["uzi"]["version"] == "1"
    assert view["uzi"]["ura"] == "90000123"
    assert view["uzi"]["oid_ca"] == "2.16.528.1.1007.99.2110"
    assert view["uzi"]["environment"] == "test"
    assert view["uzi"]["role"] == "00.000"
    assert view["permanent_identifier"] == {"value": "90000123", "assigner": "2.16.528.1.1007.3.3"}
    assert view["upn"] is None
    assert "TEST UZI-register Private Server CA G1" in view["issuer"]


def test_inspect_reads_a_pkcs12_file_with_its_password(zorgid: Zorgid, pki_dir: PkiDir) -> None:
    org = pki_dir.org()
    code, view = zorgid.json(
        "validatietool",
        "inspect",
        org / "server.p12",
        "--password-file",
        org / "server.p12.password",
    )
    assert code == 0
    assert view["uzi"]["ura"] == "90000123"


def test_inspect_of_a_pass_shows_role_and_upn(zorgid: Zorgid, pki_dir: PkiDir) -> None:
    result = zorgid(
        "validatietool", "inspect", pki_dir.root / "people/j-bakker/auth-cert.pem", "--lang", "en"
    )
    assert result.exit_code == 0
    assert "01.015" in result.stdout
    assert "Huisartsgeneeskunde".lower() in result.stdout.lower()
    assert "900040001@90000123" in result.stdout


def test_inspect_without_the_pkcs12_password_is_a_usage_error(
    zorgid: Zorgid, pki_dir: PkiDir
) -> None:
    code, view = zorgid.json("validatietool", "inspect", pki_dir.org() / "server.p12")
    assert code == 2
    assert view["code"] == "pkcs12_password"


def test_inspect_of_garbage_or_a_missing_file(zorgid: Zorgid, tmp_path: Path) -> None:
    garbage = tmp_path / "x.pem"
    garbage.write_bytes(b"\x00\x01 not a certificate")
    assert zorgid.json("validatietool", "inspect", garbage)[1]["code"] == "certificate_unreadable"
    code, view = zorgid.json("validatietool", "inspect", tmp_path / "missing.pem")
    assert (code, view["code"]) == (2, "file_error")


# --- fill -----------------------------------------------------------------------------------------


def test_fill_with_every_field_writes_a_valid_document(filled: Path) -> None:
    root = etree.fromstring(filled.read_bytes())
    assert root.findtext(f"{{{NS}}}Organisatie/{{{NS}}}URA") == "90000123"


def test_fill_without_input_saves_a_draft_and_lists_what_is_missing(
    tmp_path: Path, zorgid: Zorgid
) -> None:
    doc = tmp_path / "concept.xml"
    result = zorgid(
        "validatietool", "fill", "-o", doc, "--set", "Organisatie/URA=90000123", "--lang", "en"
    )
    assert result.exit_code == 1
    assert "document_incomplete" in result.stderr
    assert "Organisatie/Naam" in result.stderr
    assert "Aanvraag/Uitdaging" in result.stderr
    assert "90000123" in doc.read_text()  # what was entered is kept


def test_fill_completes_a_prefilled_document(tmp_path: Path, zorgid: Zorgid) -> None:
    doc = tmp_path / "doc.xml"
    first = sets("Organisatie/Naam", "PortaalAdministrator")
    assert zorgid("validatietool", "fill", "-o", doc, *first).exit_code == 1
    result = zorgid(
        "validatietool",
        "fill",
        doc,
        "--set",
        "Organisatie/Naam=De Linde",
        "--set",
        "PortaalAdministrator/Naam=Petra",
        "--set",
        "PortaalAdministrator/Email=petra@example.nl",
    )
    assert result.exit_code == 0, result.output
    assert "De Linde" in doc.read_text()


def test_fill_names_a_malformed_field_in_dutch_by_default(tmp_path: Path, zorgid: Zorgid) -> None:
    result = zorgid(
        "validatietool", "fill", "-o", tmp_path / "d.xml", *SETS, "--set", "Organisatie/URA=1234"
    )
    assert result.exit_code == 1
    assert "Organisatie/URA" in result.stderr
    assert "'1234'" in result.stderr
    assert "8 cijfers" in result.stderr


def test_fill_rejects_an_unknown_field_as_usage_error(tmp_path: Path, zorgid: Zorgid) -> None:
    result = zorgid("validatietool", "fill", "-o", tmp_path / "d.xml", "--set", "Foo/Bar=1")
    assert result.exit_code == 2
    assert "document_unknown_field" in result.stderr


def test_fill_asks_for_missing_fields_at_a_terminal(
    tmp_path: Path, zorgid: Zorgid, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validatietool_module, "stdin_is_terminal", lambda: True)
    partial = sets("Organisatie/Naam")
    doc = tmp_path / "d.xml"
    # A wrong answer is asked again; the right one is taken; optional fields are skipped.
    result = zorgid("validatietool", "fill", "-o", doc, *partial, input="\n  De Linde  \n")
    assert result.exit_code == 0, result.output
    assert "<Naam>De Linde</Naam>" in doc.read_text()


# --- sign -----------------------------------------------------------------------------------------


def test_sign_with_pkcs12_produces_a_document_that_verifies(
    zorgid: Zorgid, signed_file: Path, pki_dir: PkiDir
) -> None:
    code, report = verify(
        zorgid, pki_dir, signed_file, "--expect-ura", "90000123", "--expect-challenge", CHALLENGE
    )
    assert code == 0, report
    assert set(report) == {"valid", "code", "message", "organisation", "certificate"}
    assert set(report["organisation"]) == {"ura", "naam"}
    assert report["valid"] is True
    assert report["code"] == "valid"
    assert report["organisation"]["ura"] == "90000123"
    assert report["organisation"]["naam"] == "Huisartsenpraktijk De Linde"
    assert report["certificate"]["uzi"]["card_type"] == "S"


def test_sign_with_pem_files(zorgid: Zorgid, filled: Path, tmp_path: Path, pki_dir: PkiDir) -> None:
    out = tmp_path / "s.xml"
    org = pki_dir.org()
    result = zorgid(
        "validatietool",
        "sign",
        filled,
        "-o",
        out,
        "--cert",
        org / "server-cert.pem",
        "--key",
        org / "server-key.pem",
    )
    assert result.exit_code == 0, result.output
    assert signed_content(out.read_bytes()).certificate is not None


def test_sign_with_a_pkcs11_token(
    zorgid: Zorgid, filled: Path, tmp_path: Path, softhsm_token: SoftHsmToken
) -> None:
    out = tmp_path / "s.xml"
    pin = tmp_path / "pin"
    pin.write_text(softhsm_token.pin + "\n")
    result = sign_with_token(zorgid, filled, out, softhsm_token, "server-rsa", pin)
    assert result.exit_code == 0, result.output
    content = signed_content(out.read_bytes())
    assert content.certificate == softhsm_token.keys["server-rsa"].certificate


def test_sign_with_a_token_key_and_a_certificate_file(
    zorgid: Zorgid, filled: Path, tmp_path: Path, softhsm_token: SoftHsmToken
) -> None:
    cert = tmp_path / "cert.pem"
    issued = softhsm_token.keys["no-certificate"]
    cert.write_bytes(issued.certificate.public_bytes(Encoding.PEM))
    pin = tmp_path / "pin"
    pin.write_text(softhsm_token.pin)
    result = sign_with_token(
        zorgid, filled, tmp_path / "s.xml", softhsm_token, "no-certificate", pin, "--cert", cert
    )
    assert result.exit_code == 0, result.output


def test_sign_with_a_wrong_pin_says_so(
    zorgid: Zorgid, filled: Path, tmp_path: Path, softhsm_token: SoftHsmToken
) -> None:
    pin = tmp_path / "pin"
    pin.write_text("9999")
    result = sign_with_token(zorgid, filled, tmp_path / "s.xml", softhsm_token, "server-rsa", pin)
    assert result.exit_code == 2
    assert "signing_pkcs11_pin" in result.stderr
    assert not (tmp_path / "s.xml").exists()


def test_sign_refuses_another_organisations_certificate(
    zorgid: Zorgid, filled: Path, tmp_path: Path, pki_dir: PkiDir
) -> None:
    org = pki_dir.org("90000456")
    out = tmp_path / "s.xml"
    result = sign_with_pkcs12(zorgid, filled, out, org, "--lang", "en")
    assert result.exit_code == 1
    assert "ura_mismatch" in result.stderr
    assert "90000456" in result.stderr
    assert not out.exists()


def test_sign_refuses_a_uzi_pass(
    zorgid: Zorgid, filled: Path, tmp_path: Path, pki_dir: PkiDir
) -> None:
    person = pki_dir.root / "people" / "j-bakker"
    result = zorgid(
        "validatietool",
        "sign",
        filled,
        "-o",
        tmp_path / "s.xml",
        "--cert",
        person / "auth-cert.pem",
        "--key",
        person / "auth-key.pem",
    )
    assert result.exit_code == 1
    assert "certificate_not_server" in result.stderr


def test_sign_refuses_an_incomplete_document(
    zorgid: Zorgid, tmp_path: Path, pki_dir: PkiDir
) -> None:
    doc = tmp_path / "d.xml"
    zorgid("validatietool", "fill", "-o", doc, "--set", "Organisatie/URA=90000123")
    org = pki_dir.org()
    result = sign_with_pkcs12(zorgid, doc, tmp_path / "s.xml", org)
    assert result.exit_code == 1
    assert "document_incomplete" in result.stderr


def test_sign_with_a_wrong_pkcs12_password(
    zorgid: Zorgid, filled: Path, tmp_path: Path, pki_dir: PkiDir
) -> None:
    wrong = tmp_path / "pw"
    wrong.write_text("nope")
    result = zorgid(
        "validatietool",
        "sign",
        filled,
        "-o",
        tmp_path / "s.xml",
        "--pkcs12",
        pki_dir.org() / "server.p12",
        "--password-file",
        wrong,
    )
    assert result.exit_code == 2
    assert "pkcs12_password" in result.stderr


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--pkcs12", "a.p12", "--cert", "c.pem", "--key", "k.pem"],
        ["--cert", "c.pem"],
        ["--pkcs11-module", "x.so"],
    ],
    ids=["none", "two", "cert-without-key", "token-incomplete"],
)
def test_sign_needs_exactly_one_complete_key_source(
    zorgid: Zorgid, filled: Path, tmp_path: Path, options: list[str]
) -> None:
    result = zorgid("validatietool", "sign", filled, "-o", tmp_path / "s.xml", *options)
    assert result.exit_code == 2
    assert "[usage]" in result.stderr


def sign_with_token(  # noqa: PLR0913, PLR0917 - the options of one sign command
    zorgid: Zorgid,
    doc: Path,
    out: Path,
    token: SoftHsmToken,
    key_label: str,
    pin: Path,
    *extra: str | Path,
) -> Result:
    return zorgid(
        "validatietool",
        "sign",
        doc,
        "-o",
        out,
        "--pkcs11-module",
        token.module,
        "--token-label",
        token.label,
        "--key-label",
        key_label,
        "--pin-file",
        pin,
        *extra,
    )


# --- verify ---------------------------------------------------------------------------------------


def test_verify_rejects_a_tampered_document_with_exit_code_1(
    zorgid: Zorgid, signed_file: Path, pki_dir: PkiDir, tmp_path: Path
) -> None:
    tampered = tmp_path / "t.xml"
    tampered.write_bytes(signed_file.read_bytes().replace(b"De Linde", b"De Eik"))
    code, report = verify(zorgid, pki_dir, tampered)
    assert (code, report["valid"], report["code"]) == (1, False, "signature_digest_mismatch")
    assert "organisation" not in report


def test_verify_rejects_another_trust_anchor_and_shows_no_untrusted_organisation_data(
    zorgid: Zorgid, signed_file: Path, pki_dir: PkiDir
) -> None:
    code, report = zorgid.json(
        "validatietool",
        "verify",
        signed_file,
        "--trust-anchor",
        pki_dir.root / "ca" / "zorgverlener-ca.pem",
        "--crl",
        pki_dir.crl,
    )
    assert (code, report["code"]) == (1, "certificate_untrusted")
    assert report["certificate"]["uzi"]["ura"] == "90000123"
    assert "organisation" not in report  # what an untrusted signer wrote is not reported


def test_verify_at_a_time_after_expiry(zorgid: Zorgid, signed_file: Path, pki_dir: PkiDir) -> None:
    code, report = verify(zorgid, pki_dir, signed_file, "--at", "2031-01-01T00:00:00Z")
    assert (code, report["code"]) == (1, "certificate_expired")


def test_verify_with_expectations_that_do_not_hold(
    zorgid: Zorgid, signed_file: Path, pki_dir: PkiDir
) -> None:
    assert (
        verify(zorgid, pki_dir, signed_file, "--expect-ura", "90000456")[1]["code"]
        == "ura_unexpected"
    )
    report = verify(zorgid, pki_dir, signed_file, "--expect-challenge", "A" * 43)[1]
    assert report["code"] == "challenge_mismatch"


def test_verify_a_revoked_certificate(
    zorgid: Zorgid, filled: Path, tmp_path: Path, pki_dir: PkiDir
) -> None:
    issued = pki_dir.pki.issue_server(
        ura="90000123",
        organisation="Huisartsenpraktijk De Linde",
        fqdn="old.delinde.example",
        uzi_number="900030009",
    )
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_bytes(issued.certificate.public_bytes(Encoding.PEM))
    key.write_bytes(issued.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    out = tmp_path / "s.xml"
    assert (
        zorgid("validatietool", "sign", filled, "-o", out, "--cert", cert, "--key", key).exit_code
        == 0
    )
    pki_dir.pki.revoke(issued.certificate)
    crl = tmp_path / "new.crl"
    crl.write_bytes(pki_dir.pki.crl(pki_dir.pki.server_ca, number=2).public_bytes(Encoding.DER))
    code, report = zorgid.json(
        "validatietool", "verify", out, "--trust-anchor", pki_dir.anchor, "--crl", crl
    )
    assert (code, report["code"]) == (1, "certificate_revoked")


def test_verify_usage_errors_exit_2_with_json(
    zorgid: Zorgid, signed_file: Path, tmp_path: Path
) -> None:
    code, report = zorgid.json(
        "validatietool", "verify", signed_file, "--trust-anchor", tmp_path / "missing.pem"
    )
    assert (code, report["valid"], report["code"]) == (2, False, "file_error")
    assert set(report) == {"valid", "code", "message"}  # the shape of formats.md
    code, report = zorgid.json(
        "validatietool",
        "verify",
        tmp_path / "missing.xml",
        "--trust-anchor",
        tmp_path / "missing.pem",
    )
    assert code == 2


def test_verify_bad_time_is_a_usage_error(
    zorgid: Zorgid, signed_file: Path, pki_dir: PkiDir
) -> None:
    code, report = verify(zorgid, pki_dir, signed_file, "--at", "gisteren")
    assert (code, report["code"]) == (2, "usage")


def test_verify_messages_are_dutch_by_default_and_english_on_request(
    zorgid: Zorgid, signed_file: Path, pki_dir: PkiDir, tmp_path: Path
) -> None:
    tampered = tmp_path / "t.xml"
    tampered.write_bytes(signed_file.read_bytes().replace(b"De Linde", b"De Eik"))
    dutch = verify(zorgid, pki_dir, tampered)[1]["message"]
    english = verify(zorgid, pki_dir, tampered, "--lang", "en")[1]["message"]
    assert "changed after it was signed" in english
    assert "gewijzigd" in dutch


def test_verify_human_output_names_the_organisation(
    zorgid: Zorgid, signed_file: Path, pki_dir: PkiDir
) -> None:
    result = zorgid(
        "validatietool",
        "verify",
        signed_file,
        "--trust-anchor",
        pki_dir.anchor,
        "--crl",
        pki_dir.crl,
        "--lang",
        "en",
    )
    assert result.exit_code == 0
    assert "VALID" in result.stdout
    assert "Huisartsenpraktijk De Linde (URA 90000123)" in result.stdout


# --- the real command, as a process ---------------------------------------------------------------


def test_the_command_never_shows_a_traceback_for_bad_input(tmp_path: Path) -> None:
    garbage = tmp_path / "g.xml"
    garbage.write_bytes(b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>")
    anchor = tmp_path / "a.pem"
    anchor.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    for args in (
        ["validatietool", "verify", str(garbage), "--trust-anchor", str(anchor)],
        ["validatietool", "verify", str(garbage), "--trust-anchor", str(tmp_path)],
        [
            "validatietool",
            "sign",
            str(garbage),
            "-o",
            str(tmp_path / "o"),
            "--pkcs12",
            str(garbage),
        ],
        ["validatietool", "fill", str(garbage), "--no-input"],
        ["validatietool", "inspect", str(tmp_path)],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "zorgid", *args], capture_output=True, text=True, check=False
        )
        assert result.returncode in {1, 2}, (args, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout
        assert "[" in result.stderr  # the stable code in brackets


def test_fill_keeps_every_answer_when_the_person_stops_halfway(
    tmp_path: Path, zorgid: Zorgid, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validatietool_module, "stdin_is_terminal", lambda: True)
    doc = tmp_path / "d.xml"
    # Two required fields missing; the person answers the first, then stops (end of input).
    result = zorgid(
        "validatietool",
        "fill",
        "-o",
        doc,
        *sets("Organisatie/Naam", "PortaalAdministrator/Email"),
        input="De Linde\n",
    )
    assert result.exit_code == 1
    assert "<Naam>De Linde</Naam>" in doc.read_text()
    assert "PortaalAdministrator/Email" in result.stderr


def test_fill_offers_optional_fields_and_enter_skips_them(
    tmp_path: Path, zorgid: Zorgid, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validatietool_module, "stdin_is_terminal", lambda: True)
    doc = tmp_path / "d.xml"
    answers = "De Linde\n01234567\n"  # the name, then the optional AGB code
    result = zorgid("validatietool", "fill", "-o", doc, *sets("Organisatie/Naam"), input=answers)
    assert result.exit_code == 0, result.output
    assert "<AGBCode>01234567</AGBCode>" in doc.read_text()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from([f.path for f in FIELDS] + ["Organisatie", "", "Foo/Bar"]),
    value=st.text(max_size=300),
)
def test_fill_answers_any_value_with_a_message_never_a_traceback(
    tmp_path: Path, zorgid: Zorgid, field: str, value: str
) -> None:
    result = zorgid(
        "validatietool",
        "fill",
        "-o",
        tmp_path / "d.xml",
        *SETS,
        "--set",
        f"{field}={value}",
        "--no-input",
    )
    assert result.exit_code in {0, 1, 2}
    if result.exit_code:
        assert "[" in result.stderr  # a stable code in brackets


# --- found in review ------------------------------------------------------------------------------


def test_sign_refuses_a_key_that_is_not_the_certificates(
    zorgid: Zorgid, filled: Path, tmp_path: Path, pki_dir: PkiDir
) -> None:
    out = tmp_path / "s.xml"
    result = zorgid(
        "validatietool",
        "sign",
        filled,
        "-o",
        out,
        "--cert",
        pki_dir.org() / "server-cert.pem",
        "--key",
        pki_dir.org("90000456") / "server-key.pem",
    )
    assert result.exit_code == 2
    assert "signing_key_mismatch" in result.stderr
    assert not out.exists()


def test_sign_puts_only_the_signers_intermediates_in_keyinfo(
    zorgid: Zorgid, filled: Path, tmp_path: Path, pki_dir: PkiDir
) -> None:
    bundle = tmp_path / "bundle.pem"
    ca = pki_dir.root / "ca"
    bundle.write_bytes(
        b"".join(
            (pki_dir.org() / "server-cert.pem").read_bytes()
            if n == "leaf"
            else (ca / n).read_bytes()
            for n in (
                "leaf",
                "root.pem",
                "zorgverlener-ca.pem",
                "server-ca.pem",
                "server-ca.pem",
                "medewerker-ca.pem",
            )
        )
    )
    out = tmp_path / "s.xml"
    result = zorgid(
        "validatietool",
        "sign",
        filled,
        "-o",
        out,
        "--cert",
        bundle,
        "--key",
        pki_dir.org() / "server-key.pem",
    )
    assert result.exit_code == 0, result.output
    content = signed_content(out.read_bytes())
    assert content.intermediates == (pki_dir.pki.server_ca.certificate,)


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_verify_at_the_edge_of_the_calendar_is_a_usage_error(
    zorgid: Zorgid, signed_file: Path, pki_dir: PkiDir, moment: str
) -> None:
    code, report = verify(zorgid, pki_dir, signed_file, "--at", moment)
    assert (code, report["code"]) == (2, "usage")


def test_fill_refuses_more_applications_than_the_schema_allows_without_half_writing(
    zorgid: Zorgid, tmp_path: Path
) -> None:
    doc = tmp_path / "d.xml"
    many = ",".join(f"app{i}" for i in range(51))
    result = zorgid(
        "validatietool", "fill", "-o", doc, *SETS, "--set", f"Applicaties/Applicatie={many}"
    )
    assert result.exit_code == 1
    assert "document_incomplete" in result.stderr
    assert "50" in result.stderr
    assert doc.exists()  # the draft keeps every entry
    assert "app50" in doc.read_text()


def test_fill_refuses_invisible_characters_given_with_set(zorgid: Zorgid, tmp_path: Path) -> None:
    result = zorgid(
        "validatietool",
        "fill",
        "-o",
        tmp_path / "d.xml",
        *SETS,
        "--set",
        "Organisatie/Naam=De Linde\u202eevil",
    )
    assert result.exit_code == 2
    assert "document_invalid_character" in result.stderr


def test_fill_and_sign_refuse_a_foreign_xml_file(zorgid: Zorgid, tmp_path: Path) -> None:
    other = tmp_path / "other.xml"
    other.write_text('<Anders xmlns="urn:zorgid:organisatiedocument:1"/>')
    result = zorgid("validatietool", "fill", other, "--no-input")
    assert result.exit_code == 1
    assert "document_schema" in result.stderr


def test_written_files_get_ordinary_permissions(filled: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    # As any file the person makes (mkstemp alone would make it 0600).
    assert filled.stat().st_mode & 0o777 == 0o666 & ~umask
