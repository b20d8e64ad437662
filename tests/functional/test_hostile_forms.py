"""Hostile values against the login's plain routes and every form, on a real ``zorgid serve``.

Fields, path segments, cookies and bodies get what no browser or app sends: non-ASCII text,
control characters and NUL, nothing, 100,000 characters, a field many times, bytes that are not
UTF-8, and bodies under a content type that does not match them (or none). Whatever comes, the
answer is never a 5xx. The forms are fuzzed past their CSRF check where the token can be had (a
login page's, the token pages' that are bound to the path, the operator's), so that the values
reach the code behind it.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import TYPE_CHECKING

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.portal import OperatorSite, operator_site
from tests.support.server import read_login_page
from zorgid.web.cookies import FORM as FORM_COOKIE
from zorgid.web.cookies import LOGIN as LOGIN_COOKIE
from zorgid.web.cookies import SESSION as SESSION_COOKIE
from zorgid.web.security import csrf_token

if TYPE_CHECKING:
    from collections.abc import Iterator

EXAMPLES = 150
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
#: Text no form expects: anything Unicode (control characters and NUL included), and extremes.
TEXT = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp"]), max_size=20),
    st.sampled_from(
        ["", "\x00", "\r\n", "é", "😀", "\u202e", "a" * 100_000, "%00", "%ff", "+" * 50, "&=&"]
    ),
)
NAMES = st.one_of(st.sampled_from(["csrf", "code", "reason", "ura", "x"]), st.text(max_size=10))
CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=latin-1",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=x",
        "application/json",
        "text/plain",
        "",
    ]
)
#: Header values: what h11 lets a client send (visible ASCII, inner spaces, bytes 0x80-0xFF).
HEADER = st.binary(max_size=60).map(
    lambda raw: bytes(b if 0x20 <= b < 0x7F or b >= 0x80 else 0x3F for b in raw).strip()
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorSite]:
    """``zorgid serve`` on SQLite, with an operator logged in."""
    with operator_site(tmp_path_factory.mktemp("hostile")) as served:
        yield served


@pytest.fixture(scope="module")
def client(site: OperatorSite) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=60) as opened:
        yield opened


@st.composite
def form_bodies(draw: st.DrawFn, names: tuple[str, ...], csrf: str | None) -> tuple[bytes, str]:
    """A body for a form of ``names``: hostile values, repeated or missing fields, any type."""
    pairs = [(name, draw(TEXT)) for name in names if draw(st.booleans())]
    pairs += draw(st.lists(st.tuples(NAMES, TEXT), max_size=4))  # strangers and repeats
    if csrf is not None and draw(st.booleans()):
        pairs.insert(0, ("csrf", csrf))  # the real token: the values get past the check
    kind = draw(CONTENT_TYPES)
    encoding = draw(st.sampled_from(["utf-8", "latin-1", "raw"]))
    if encoding == "raw":
        body = draw(st.binary(max_size=200))
    else:
        body = urllib.parse.urlencode(pairs, encoding=encoding, errors="replace").encode()
    if kind.startswith("multipart") and draw(st.booleans()):
        body = _multipart(pairs)
        kind = "multipart/form-data; boundary=zz"
    return body, kind


def _multipart(pairs: list[tuple[str, str]]) -> bytes:
    parts = [
        f'--zz\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode(
            "utf-8", "surrogatepass"
        )
        for name, value in pairs
    ]
    return b"".join(parts) + b"--zz--\r\n"


def segment(value: str) -> str:
    """``value`` as one path segment (at most 40,000 characters: httpx refuses longer URLs)."""
    return urllib.parse.quote(value[:40_000], safe="", errors="surrogatepass") or "%20"


def post(
    client: httpx.Client,
    path: str,
    body: bytes,
    kind: str,
    headers: dict[bytes, bytes] | None = None,
) -> int:
    sent = {b"content-type": kind.encode()} if kind else {}
    response = client.post(path, content=body, headers={**sent, **(headers or {})})
    assert response.status_code < 500, (path, body[:200], kind, response.text[:500])
    return response.status_code


def new_login(client: httpx.Client) -> tuple[str, str, str]:
    """A fresh login page: its id, CSRF token and browser cookie."""
    page = client.get("/")
    login = read_login_page(page.text)
    return login.login_id, login.csrf, page.cookies[LOGIN_COOKIE]


# -- the login's plain routes ------------------------------------------------------------------


@given(session=HEADER, agent=HEADER, language=HEADER)
@FUZZ
def test_the_login_page_takes_any_cookie_and_header(
    client: httpx.Client, session: bytes, agent: bytes, language: bytes
) -> None:
    response = client.get(
        "/",
        headers={
            b"cookie": b"%s=%s" % (SESSION_COOKIE.encode(), session),
            b"user-agent": agent,
            b"accept-language": language,
        },
    )
    assert response.status_code < 500


@given(login_id=TEXT, cookie=HEADER, what=st.sampled_from(["status", "events"]))
@FUZZ
def test_a_login_s_state_takes_any_id_and_cookie(
    client: httpx.Client, login_id: str, cookie: bytes, what: str
) -> None:
    response = client.get(
        f"/login/{segment(login_id)}/{what}",
        headers={b"cookie": b"%s=%s" % (LOGIN_COOKIE.encode(), cookie)},
    )
    assert response.status_code < 500


@given(data=st.data(), step=st.sampled_from(["code", "complete"]))
@FUZZ
def test_the_login_forms_take_any_fields(
    client: httpx.Client, data: st.DataObject, step: str
) -> None:
    login_id, csrf, cookie = new_login(client)
    if data.draw(st.booleans()):
        login_id = segment(data.draw(TEXT))
    body, kind = data.draw(form_bodies(("code", "csrf"), csrf))
    accept = data.draw(st.sampled_from([b"application/json", b"text/html", b"*/*"]))
    post(
        client,
        f"/login/{login_id}/{step}",
        body,
        kind,
        {b"cookie": f"{LOGIN_COOKIE}={cookie}".encode(), b"accept": accept},
    )


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
APP_FIELDS = {
    "scan": ("nonce", "device_id", "signature"),
    "wait": ("nonce", "device_id"),
    "answer": ("device_id", "decision", "pin", "signature"),
}


@given(data=st.data(), step=st.sampled_from(sorted(APP_FIELDS)))
@FUZZ
def test_the_app_s_login_steps_take_any_body(
    client: httpx.Client, data: st.DataObject, step: str
) -> None:
    login_id = data.draw(st.sampled_from(["A" * 22, "x"]) | TEXT.map(segment))
    shape = data.draw(st.sampled_from(["fields", "any json", "bytes"]))
    if shape == "fields":
        fields = {name: data.draw(TEXT) for name in APP_FIELDS[step] if data.draw(st.booleans())}
        body = json.dumps(fields).encode()
    elif shape == "any json":
        body = json.dumps(data.draw(JSON_VALUES)).encode()
    else:
        body = data.draw(st.binary(max_size=300))
    kind = data.draw(st.sampled_from(["application/json", "text/plain", "", "application/xml"]))
    post(client, f"/api/app/v1/logins/{login_id}/{step}", body, kind)


# -- every form --------------------------------------------------------------------------------

#: The token-bound forms: path (with the token), the binding of its CSRF token, its fields.
TOKEN_FORMS = {
    "/aanvraag/{token}/intrekken": ("request", ()),
    "/aanvraag/{token}/document": ("request", ("document",)),
    "/gegevens/{token}/bevestigen": ("details", ()),
    "/gegevens/{token}": ("details", ("full_name", "birth_date", "phone")),
}
OPERATOR_FORMS = {
    "/logout": (),
    "/beheer/aanvragen/{id}/goedkeuren": (),
    "/beheer/aanvragen/{id}/afwijzen": ("reason",),
    "/beheer/aanvragen/{id}/opnieuw-versturen": (),
    "/beheer/toepassingen": ("id", "name", "vendor", "supports", "website"),
    "/beheer/toepassingen/{id}": ("name", "vendor", "supports", "website"),
    "/beheer/toepassingen/{id}/intrekken": (),
}
APPLICATION_FIELDS = (
    "ura",
    "organisation_name",
    "technical_name",
    "technical_email",
    "admin_name",
    "admin_email",
    "applications",
)


@given(data=st.data())
@FUZZ
def test_the_application_form_takes_any_fields(
    client: httpx.Client, site: OperatorSite, data: st.DataObject
) -> None:
    cookie = data.draw(st.sampled_from(["k" * 22, ""]) | TEXT.filter(str.isprintable))
    csrf = csrf_token(site.secret, f"form\0{cookie}")
    body, kind = data.draw(form_bodies(APPLICATION_FIELDS, csrf))
    headers = {b"cookie": f"{FORM_COOKIE}={urllib.parse.quote(cookie)}".encode()} if cookie else {}
    post(client, "/aanvraag", body, kind, headers)


@given(data=st.data(), form=st.sampled_from(sorted(TOKEN_FORMS)))
@FUZZ
def test_the_token_forms_take_any_token_and_fields(
    client: httpx.Client, site: OperatorSite, data: st.DataObject, form: str
) -> None:
    token = data.draw(st.sampled_from(["t" * 43]) | TEXT)
    binding, fields = TOKEN_FORMS[form]
    body, kind = data.draw(form_bodies(fields, csrf_token(site.secret, f"{binding}\0{token}")))
    post(client, form.replace("{token}", segment(token)), body, kind)


@given(data=st.data(), form=st.sampled_from(sorted(OPERATOR_FORMS)))
@FUZZ
def test_the_operator_s_forms_take_any_fields(
    client: httpx.Client, site: OperatorSite, data: st.DataObject, form: str
) -> None:
    path = form.replace("{id}", segment(data.draw(st.sampled_from(["r" * 22]) | TEXT)))
    fields = OPERATOR_FORMS[form]
    # The real token, except for /logout: it would end the session the next examples use.
    csrf = None if form == "/logout" else csrf_token(site.secret, site.session)
    body, kind = data.draw(form_bodies(fields, csrf))
    post(client, path, body, kind, {b"cookie": f"{SESSION_COOKIE}={site.session}".encode()})
