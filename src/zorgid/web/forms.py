"""Reading a posted form with a cap on its size, before anything of it is parsed.

Starlette reads a form body whole (a file part spools to disk without a limit), so a form is
read here from the request stream up to a fixed number of bytes first; anything longer is
refused with :class:`TooLargeError` (413) without being kept. Fields come back as plain strings
(a missing field is ``""``), so that a route can show the form again with what was typed and a
message per field, rather than a validation error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.datastructures import UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import Request  # noqa: TC002 - FastAPI reads dependency annotations

from zorgid.core.i18n import N_, Message, translate
from zorgid.errors import ZorgidError
from zorgid.web.errors import InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping

#: Enough for any text form of ours (an application's fields, a rejection reason).
FORM_LIMIT = 64 * 1024
KIB = 1024


class TooLargeError(ZorgidError):
    """The request body is larger than the form accepts."""

    code = "too_large"
    message = N_("What you sent is larger than this form accepts (at most {limit} KiB).")


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


async def read_form(request: Request, limit: int = FORM_LIMIT) -> Form:
    """The request's form, refusing a body of more than ``limit`` bytes."""
    body = await _body(request, limit)

    async def replay() -> AsyncGenerator[bytes, None]:
        yield body

    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    try:
        if kind == "multipart/form-data":
            parsed = await MultiPartParser(
                request.headers, replay(), max_files=2, max_fields=100, max_part_size=limit
            ).parse()
        elif kind == "application/x-www-form-urlencoded":
            parsed = await FormParser(
                request.headers, replay(), max_fields=100, max_part_size=limit
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


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLargeError(f"declared {declared} bytes", limit=limit // KIB)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLargeError(f"more than {limit} bytes", limit=limit // KIB)
        chunks.append(chunk)
    return b"".join(chunks)


def problem_texts(problems: Mapping[str, str | Message], lang: str) -> dict[str, str]:
    """A form error's problems (field -> English msgid, or a Message) as texts in ``lang``."""
    return {
        name: problem.render(lang) if isinstance(problem, Message) else translate(problem, lang)
        for name, problem in problems.items()
    }
