"""schemathesis over the whole OpenAPI document, against a real ``zorgid serve``.

Every operation of ``/api/openapi.json`` is fuzzed twice: anonymously, and as a logged-in
operator (whose back-office forms carry the session's real CSRF token, so that the fuzzer gets
past the token into the forms themselves). Generated values are both valid and invalid for the
document (schemathesis' positive and negative modes). No answer may be a 5xx, and every check
of schemathesis passes except those in :data:`EXCLUDED`, each with its reason. The numbers of
cases are counted, and the run fails with fewer than :data:`AT_LEAST`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks

from tests.support.portal import operator_site
from zorgid.web.cookies import SESSION as SESSION_COOKIE
from zorgid.web.openapi import OPERATIONS
from zorgid.web.security import csrf_token

if TYPE_CHECKING:
    from collections.abc import Iterator

    from schemathesis import APIOperation, BaseSchema, Case, CheckFunction

EXAMPLES = 40
AT_LEAST = 2000
#: Checks of schemathesis that do not apply here, and why.
EXCLUDED: dict[CheckFunction, str] = {
    checks.positive_data_acceptance: (
        "Valid-looking data is refused on purpose: ids, tokens, CSRF tokens and signatures the "
        "fuzzer makes up name nothing that exists (404, 403, 400), and the document cannot say "
        "which values exist."
    ),
}
CASES: Counter[str] = Counter()
STATUSES: defaultdict[tuple[str, str, str], set[int]] = defaultdict(set)


@dataclass(frozen=True)
class Site:
    """The running service and an operator's session on it."""

    url: str
    session: str
    csrf: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """``zorgid serve`` on SQLite (the fuzzing is of HTTP, the databases have their own tests)."""
    with operator_site(tmp_path_factory.mktemp("schemathesis")) as served:
        yield Site(served.url, served.session, csrf_token(served.secret, served.session))
    total = sum(CASES.values())
    every = len(CASES) == 2 * len(OPERATIONS)
    print(f"\nschemathesis: {total} cases over {len(CASES)} operations and visitors")  # noqa: T201
    assert total >= AT_LEAST or not every, f"only {total} cases: {dict(CASES)}"


@pytest.fixture(scope="module")
def api(site: Site) -> BaseSchema:
    """The service's own document, as it serves it."""
    return schemathesis.openapi.from_url(f"{site.url}/api/openapi.json")


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def strategy(operation: APIOperation[Any, Any, Any, Any]) -> st.SearchStrategy[Case[Any]]:
    """Cases valid for the document and cases that break it, mixed."""
    return st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )


@pytest.mark.parametrize("who", ["anonymous", "operator"])
@pytest.mark.parametrize(
    ("method", "path"), sorted(OPERATIONS), ids=[f"{m} {p}" for m, p in sorted(OPERATIONS)]
)
def test_no_5xx_and_every_check_passes(
    api: BaseSchema, site: Site, who: str, method: str, path: str
) -> None:
    headers = {"cookie": f"{SESSION_COOKIE}={site.session}"} if who == "operator" else {}

    @given(case=strategy(api[path][method.upper()]))
    @FUZZ
    def fuzz(case: Case[Any]) -> None:
        CASES[f"{who} {method} {path}"] += 1
        if who == "operator" and path.startswith("/beheer") and isinstance(case.body, dict):
            case.body["csrf"] = site.csrf  # past the token, into the form
        response = case.call_and_validate(headers=headers, excluded_checks=list(EXCLUDED))
        STATUSES[who, method, path].add(response.status_code)

    fuzz()
    if path.startswith("/beheer") and method == "GET":
        # The operator's cookie works (the fuzzer got past the login), and only theirs does.
        seen = STATUSES[who, method, path]
        assert not seen & {401, 403} if who == "operator" else seen == {401}, seen
