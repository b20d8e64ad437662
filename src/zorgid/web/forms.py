"""Reading a posted form whole, within its route's body limit, before anything of it is parsed.

Every route has a body limit (zorgid.web.bodylimit): a body over it is refused with
:class:`~zorgid.web.errors.TooLargeError` (413) before it is read, or as soon as the bytes that
arrive pass it. Fields come back as plain strings (a missing field is ``""``), so that a
route can show the form again with what was typed and a message per field, rather than a
validation error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import Request  # noqa: TC002 - FastAPI reads dependency annotations

from zorgid.core.i18n import N_, Message, translate
from zorgid.web.errors import InvalidRequestError, too_large

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping


@dataclass(frozen=True)
class Form:
    """A posted form: text fields and (at most a few) files, read whole."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def text(self, name: str, limit: int = 2000) -> str:
        """The field's first value (``""`` when missing), cut at ``limit`` characters."""
        values = self.fields.get(name)
        return values[0][:limit] if values else ""

    def texts(self, name: str, *, most: int = 50, limit: int = 200) -> list[str]:
        """Every value of a repeated field (checkboxes), at most ``most`` of them."""
        return [value[:limit] for value in self.fields.get(name, [])[:most]]

    def file(self, name: str) -> bytes | None:
        """The bytes of an uploaded file, or None when none was chosen."""
        return self.files.get(name)


@dataclass(frozen=True)
class Shown:
    """A form shown again after a refusal: what was typed, the problems, and the status."""

    values: Mapping[str, str] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)
    status: int = 200
    #: The chosen values of repeated fields (checkboxes).
    chosen: tuple[str, ...] = ()


async def read_form(request: Request) -> Form:
    """The request's form; a body over the route's limit is a :class:`TooLargeError`."""
    try:
        body = await request.body()
    except HTTPException as error:
        if error.status_code == 413:  # noqa: PLR2004 - the body limit's refusal
            raise too_large(request) from None
        raise

    async def replay() -> AsyncGenerator[bytes, None]:
        yield body

    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    try:
        if kind == "multipart/form-data":
            parsed = await MultiPartParser(
                request.headers, replay(), max_files=2, max_fields=100, max_part_size=len(body)
            ).parse()
        elif kind == "application/x-www-form-urlencoded":
            parsed = await FormParser(
                request.headers, replay(), max_fields=100, max_part_size=len(body)
            ).parse()
        else:
            return Form()
    except MultiPartException as error:
        raise InvalidRequestError(error.message, reason=N_("the form could not be read.")) from None
    form = Form()
    for name, value in parsed.multi_items():
        if isinstance(value, UploadFile):
            data = await value.read()
            await value.close()
            if value.filename or data:
                form.files.setdefault(name, data)
        else:
            form.fields.setdefault(name, []).append(value)
    return form


def problem_texts(problems: Mapping[str, str | Message], lang: str) -> dict[str, str]:
    """A form error's problems (field -> English msgid, or a Message) as texts in ``lang``."""
    return {
        name: problem.render(lang) if isinstance(problem, Message) else translate(problem, lang)
        for name, problem in problems.items()
    }
