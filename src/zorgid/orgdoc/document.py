"""The organisation document (formats.md): its fields, safe parsing, building and checking.

Everything that reads the document from bytes goes through :func:`parse_untrusted`, which refuses
DOCTYPEs, entities, comments, processing instructions, foreign namespaces, deep nesting and
oversized input before any data is looked at.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar, Final

from lxml import etree

from zorgid.core.i18n import N_, Message
from zorgid.orgdoc.errors import DocumentError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

NS: Final = "urn:zorgid:organisatiedocument:1"
DSIG_NS: Final = "http://www.w3.org/2000/09/xmldsig#"
ROOT_TAG: Final = f"{{{NS}}}Organisatiedocument"
MAX_DOCUMENT_BYTES: Final = 256 * 1024
MAX_DEPTH: Final = 12
ALLOWED_NAMESPACES: Final = frozenset({NS, DSIG_NS})


class DocumentTooLargeError(DocumentError):
    """The file is larger than the 256 KiB the profile allows."""

    code: ClassVar[str] = "document_too_large"
    message: ClassVar[str] = N_(
        "The file is too large ({size} bytes; at most {limit}). Send the organisation document "
        "itself, not another file."
    )


class DocumentEncodingError(DocumentError):
    """The file is not UTF-8."""

    code: ClassVar[str] = "document_encoding"
    message: ClassVar[str] = N_(
        "The file is not UTF-8 encoded text. Use the document made by the validation tool."
    )


class DocumentNotWellFormedError(DocumentError):
    """The file is not well-formed XML."""

    code: ClassVar[str] = "document_not_well_formed"
    message: ClassVar[str] = N_(
        "The file is not a readable XML document ({reason}). Use the document made by the "
        "validation tool and do not edit it after signing."
    )


class DocumentDoctypeError(DocumentError):
    """A DOCTYPE or entity declaration: refused before parsing, whatever it says."""

    code: ClassVar[str] = "document_doctype"
    message: ClassVar[str] = N_(
        "The document contains a DOCTYPE or entity declaration, which is not allowed."
    )


class DocumentCommentError(DocumentError):
    """An XML comment anywhere in the file."""

    code: ClassVar[str] = "document_comment"
    message: ClassVar[str] = N_("The document contains a comment (<!-- -->), which is not allowed.")


class DocumentProcessingInstructionError(DocumentError):
    """A processing instruction anywhere in the file."""

    code: ClassVar[str] = "document_processing_instruction"
    message: ClassVar[str] = N_(
        "The document contains a processing instruction (<? ?>), which is not allowed."
    )


class DocumentTooDeepError(DocumentError):
    """Elements nested deeper than any valid document."""

    code: ClassVar[str] = "document_too_deep"
    message: ClassVar[str] = N_("The document's elements are nested too deeply.")


class DocumentNamespaceError(DocumentError):
    """A namespace other than the document's and XML Signature's."""

    code: ClassVar[str] = "document_namespace"
    message: ClassVar[str] = N_("The document uses a namespace that is not allowed ({namespace}).")


class DocumentSchemaError(DocumentError):
    """The document does not follow the schema."""

    code: ClassVar[str] = "document_schema"
    message: ClassVar[str] = N_("The document does not follow the schema: {reason}.")


class DocumentIncompleteError(DocumentError):
    """Fields are missing or wrong (``fill``)."""

    code: ClassVar[str] = "document_incomplete"
    message: ClassVar[str] = N_("The document is not complete or not correct:\n{problems}")


class InvalidCharacterError(DocumentError):
    """A value holds control or formatting characters (XML cannot carry some; none belong)."""

    code: ClassVar[str] = "document_invalid_character"
    message: ClassVar[str] = N_(
        "The value for {path} contains characters that are not allowed (control or invisible "
        "formatting characters). Give the value without them."
    )
    exit_code: ClassVar[int] = 2


#: Characters outside XML 1.0's Char production (https://www.w3.org/TR/xml/#charsets).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: Unicode categories that have no place in a name or address: controls (Cc), invisible
#: formatting such as bidi overrides and zero-width characters (Cf), and line and paragraph
#: separators (Zl, Zp). The XSD refuses the same set (its Tekst type).
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _has_invisible(value: str) -> bool:
    return any(unicodedata.category(c) in _INVISIBLE for c in value if c not in "\t\n\r")


class UnknownFieldError(DocumentError):
    """``--set`` named a field the document does not have."""

    code: ClassVar[str] = "document_unknown_field"
    message: ClassVar[str] = N_("The document has no field {path}. Known fields: {known}.")
    exit_code: ClassVar[int] = 2


# --- fields ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One fillable field: its path (``Organisatie/URA``), rule and the prompt a person sees."""

    path: str
    label: str
    pattern: str
    hint: str
    required: bool = True
    repeated: bool = False
    #: Longest value, and for a repeated field the most values (as in the XSD).
    max_length: int = 200
    max_count: int = 1


_TEXT = r"[^\s](.{0,198}[^\s])?"
_EIGHT = r"[0-9]{8}"
_EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"

FIELDS: Final[tuple[Field, ...]] = (
    Field(
        "Aanvraag/Aanvraagnummer",
        N_("Request number"),
        r"ZID-[0-9]{4}-[0-9]{6}",
        N_("as in the request e-mail, e.g. ZID-2026-000123"),
    ),
    Field(
        "Aanvraag/Uitdaging",
        N_("Challenge"),
        r"[A-Za-z0-9_\-]{22,128}",
        N_("the code from the request e-mail: letters, digits, - and _"),
    ),
    Field(
        "Aanvraag/Omgeving",
        N_("Environment"),
        r"acceptatie|productie",
        N_("acceptatie or productie"),
    ),
    Field("Organisatie/URA", N_("URA of the organisation"), _EIGHT, N_("exactly 8 digits")),
    Field(
        "Organisatie/Naam",
        N_("Name of the organisation"),
        _TEXT,
        N_("as registered with the UZI-register"),
    ),
    Field(
        "Organisatie/KvKNummer", N_("KvK number"), _EIGHT, N_("8 digits (optional)"), required=False
    ),
    Field("Organisatie/AGBCode", N_("AGB code"), _EIGHT, N_("8 digits (optional)"), required=False),
    Field(
        "TechnischBeheerder/Naam",
        N_("Name of the technical administrator"),
        _TEXT,
        N_("first name and surname"),
    ),
    Field(
        "TechnischBeheerder/Email",
        N_("E-mail of the technical administrator"),
        _EMAIL,
        N_("an e-mail address, e.g. it@example.nl"),
        max_length=254,
    ),
    Field(
        "TechnischBeheerder/Telefoon",
        N_("Phone of the technical administrator"),
        r"\+?[0-9]{6,15}",
        N_("digits, optionally starting with +, e.g. +31201234567 (optional)"),
        required=False,
    ),
    Field(
        "PortaalAdministrator/Naam",
        N_("Name of the portal administrator"),
        _TEXT,
        N_("first name and surname"),
    ),
    Field(
        "PortaalAdministrator/Email",
        N_("E-mail of the portal administrator"),
        _EMAIL,
        N_("an e-mail address, e.g. petra@example.nl"),
        max_length=254,
    ),
    Field(
        "Applicaties/Applicatie",
        N_("Applications used"),
        r"[a-z0-9][a-z0-9\-]{0,63}",
        N_(
            "ids from the ZORG-ID list of accepted applications, separated by commas, e.g. "
            "example-his"
        ),
        repeated=True,
        max_count=50,
    ),
)
FIELDS_BY_PATH: Final = {f.path: f for f in FIELDS}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document's fields: which field, and what is wrong."""

    path: str
    message: str  # an English msgid with {value}, {hint} and {limit}
    value: str = ""
    limit: int = 0


def normalise(path: str, value: str) -> str:
    """Tidy what a person typed: trim, and drop spaces and dashes inside phone numbers."""
    value = " ".join(value.split())
    if path == "TechnischBeheerder/Telefoon":
        value = re.sub(r"[\s\-().]", "", value)
    return value


# --- the document as data ---------------------------------------------------------------------


@dataclass(frozen=True)
class OrganisationDocument:
    """The organisation document's content; values may be empty while it is being filled."""

    values: Mapping[str, str] = field(default_factory=dict)
    applicaties: tuple[str, ...] = ()
    ondertekend: dt.datetime | None = None

    def get(self, path: str) -> str:
        """The value at ``path`` ('' when absent)."""
        if path == "Applicaties/Applicatie":
            return ",".join(self.applicaties)
        return self.values.get(path, "")

    @property
    def ura(self) -> str:
        """Organisatie/URA."""
        return self.get("Organisatie/URA")

    @property
    def naam(self) -> str:
        """Organisatie/Naam."""
        return self.get("Organisatie/Naam")

    @property
    def aanvraagnummer(self) -> str:
        """Aanvraag/Aanvraagnummer."""
        return self.get("Aanvraag/Aanvraagnummer")

    @property
    def uitdaging(self) -> str:
        """Aanvraag/Uitdaging."""
        return self.get("Aanvraag/Uitdaging")

    def with_values(self, updates: Iterable[tuple[str, str]]) -> OrganisationDocument:
        """A copy with ``updates`` (path, value) applied; repeated fields accumulate."""
        values = dict(self.values)
        applicaties: list[str] | None = None
        for path, raw in updates:
            if path not in FIELDS_BY_PATH:
                raise UnknownFieldError(path=path, known=", ".join(FIELDS_BY_PATH))
            if _NOT_XML.search(raw) or _has_invisible(raw):
                # XML cannot hold control characters at all: refuse them before any file is made.
                raise InvalidCharacterError(repr(raw), path=path)
            if FIELDS_BY_PATH[path].repeated:
                applicaties = [] if applicaties is None else applicaties
                applicaties.extend(v.strip() for v in raw.split(",") if v.strip())
            else:
                values[path] = normalise(path, raw)
        return replace(
            self,
            values={k: v for k, v in values.items() if v},
            applicaties=self.applicaties if applicaties is None else tuple(applicaties),
        )

    def problems(self) -> list[Problem]:
        """Every missing or malformed field, in document order (the XSD's rules, said plainly)."""
        found: list[Problem] = []
        for f in FIELDS:
            values = list(self.applicaties) if f.repeated else [self.get(f.path)]
            values = [v for v in values if v]
            if not values:
                if f.required:
                    found.append(Problem(f.path, N_("missing ({hint})")))
                continue
            if len(values) > f.max_count:
                found.append(
                    Problem(f.path, N_("at most {limit} values"), str(len(values)), f.max_count)
                )
            found.extend(
                Problem(f.path, N_("'{value}' is not valid: {hint}"), v)
                for v in values
                if len(v) > f.max_length or not re.fullmatch(f.pattern, v)
            )
        return found


# --- XML ---------------------------------------------------------------------------------------


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


_SECTIONS: Final = (
    ("Aanvraag", ("Aanvraagnummer", "Uitdaging", "Omgeving")),
    ("Organisatie", ("URA", "Naam", "KvKNummer", "AGBCode")),
    ("TechnischBeheerder", ("Naam", "Email", "Telefoon")),
    ("PortaalAdministrator", ("Naam", "Email")),
)


def format_timestamp(moment: dt.datetime) -> str:
    """UTC with whole seconds and a Z, as the schema wants it."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_tree(document: OrganisationDocument, *, keep_empty: bool = False) -> etree._Element:
    """The document as an indented lxml tree (without signature).

    With ``keep_empty`` missing required fields are written as empty elements, so a draft keeps
    its shape and shows a person where to fill in.
    """
    root = etree.Element(ROOT_TAG, nsmap={None: NS})
    root.set("versie", "1")
    for section, names in _SECTIONS:
        parent = etree.SubElement(root, _q(section))
        for name in names:
            path = f"{section}/{name}"
            value = document.get(path)
            if value or (keep_empty and FIELDS_BY_PATH[path].required):
                etree.SubElement(parent, _q(name)).text = value
    apps = etree.SubElement(root, _q("Applicaties"))
    for app in document.applicaties or (("",) if keep_empty else ()):
        etree.SubElement(apps, _q("Applicatie")).text = app
    if document.ondertekend is not None:
        etree.SubElement(root, _q("Ondertekend")).text = format_timestamp(document.ondertekend)
    etree.indent(root, space="  ")
    return root


def serialise(root: etree._Element) -> bytes:
    """UTF-8 bytes with an XML declaration and a final newline."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"


_TIMESTAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")


def parse_timestamp(text: str) -> dt.datetime:
    """Read an Ondertekend time strictly (the schema's xs:dateTime also allows hour 24)."""
    match = _TIMESTAMP.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)  # noqa: TRY301 - one refusal for both kinds of bad time
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except ValueError:
        raise DocumentSchemaError(
            text,
            reason=Message(
                N_("Ondertekend: '{value}' is not a time such as 2026-11-28T12:00:00Z"),
                {"value": text[:40]},
            ),
        ) from None


def from_tree(root: etree._Element) -> OrganisationDocument:
    """Read the fields from a tree that passed :func:`parse_untrusted` (and the schema)."""
    values: dict[str, str] = {}
    applicaties: list[str] = []
    moment = None
    prefix = f"{{{NS}}}"
    # One pass over the root's children: the hot path of every verification.
    for section in root:
        name = str(section.tag).removeprefix(prefix)
        if name == "Applicaties":
            applicaties = [child.text for child in section if child.text]
        elif name == "Ondertekend" and section.text:
            moment = parse_timestamp(section.text)
        else:
            for child in section:
                path = f"{name}/{str(child.tag).removeprefix(prefix)}"
                if child.text and path in FIELDS_BY_PATH:
                    values[path] = child.text
    return OrganisationDocument(values=values, applicaties=tuple(applicaties), ondertekend=moment)


# --- parsing hostile bytes ---------------------------------------------------------------------

_FORBIDDEN_MARKUP = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)
_XML_DECL_ENCODING = re.compile(
    rb"^<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z0-9._\-]{1,40})[\"']"
)
_XML_DECL_VERSION = re.compile(rb"^<\?xml\s+version\s*=\s*[\"']([0-9.]{1,10})[\"']")


class _RefuseEverything(etree.Resolver):
    """Answers every request for an external DTD or entity with nothing: no file, no network."""

    def resolve(
        self,
        system_url: str | None,  # noqa: ARG002 - every URL gets the same answer
        public_id: str | None,  # noqa: ARG002 - as above
        context: object,
    ) -> Any:  # noqa: ANN401 - lxml's opaque resolver result
        return self.resolve_string("", context)


def _parser() -> etree.XMLParser:
    # Every switch that could reach the network or the disk, or expand entities, is off, and the
    # encoding is fixed: bytes in another encoding (UTF-16 without a BOM) are simply not XML here.
    parser = etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
        remove_blank_text=False,
        collect_ids=False,
    )
    parser.resolvers.add(_RefuseEverything())
    return parser


def parse_canonical(data: bytes) -> etree._Element:
    """Parse the canonical bytes a checked signature covers (made by lxml from a checked tree)."""
    return etree.fromstring(data, _parser())


def parse_untrusted(data: bytes) -> etree._Element:
    """Parse bytes from outside into a tree, refusing every construct the profile forbids."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentTooLargeError(size=len(data), limit=MAX_DOCUMENT_BYTES)
    body = data.removeprefix(b"\xef\xbb\xbf")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentEncodingError(str(exc)) from None
    # NUL is never part of XML; it is how UTF-16 and UTF-32 text would pass for UTF-8.
    if b"\x00" in body:
        raise DocumentEncodingError("NUL byte")
    declared = _XML_DECL_ENCODING.match(body)
    if declared and declared.group(1).lower() not in {b"utf-8", b"utf8"}:
        raise DocumentEncodingError(f"declared {declared.group(1)!r}")
    version = _XML_DECL_VERSION.match(body)
    if version and version.group(1) != b"1.0":
        raise DocumentNotWellFormedError(
            "XML version", reason=Message(N_("XML version {version} is not allowed, only 1.0"),
                                          {"version": version.group(1).decode()})
        )  # fmt: skip
    # Refused on the raw text, before libxml2 sees it: a DTD is never processed, whatever it says.
    if _FORBIDDEN_MARKUP.search(body):
        raise DocumentDoctypeError
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise DocumentNotWellFormedError(str(exc), reason=_syntax_reason(exc)) from None
    if root.getroottree().docinfo.doctype:
        raise DocumentDoctypeError
    _check_nodes(root)
    return root


def _syntax_reason(exc: etree.XMLSyntaxError) -> Message | str:
    # libxml2's own description is data: it exists in English only.
    line = exc.position[0] if exc.position else 0
    if not line:
        return str(exc.msg)
    return Message(N_("line {line}: {problem}"), {"line": line, "problem": exc.msg})


_SPECIAL_NODES = etree.XPath("//comment() | //processing-instruction()")
_TOO_DEEP = etree.XPath(f"boolean(//*[ancestor::*[{MAX_DEPTH}]])")
_FOREIGN_ATTRIBUTES = etree.XPath("//@*[namespace-uri() != '']")


def _check_nodes(root: etree._Element) -> None:
    # XPath runs in C: these checks are on the hot path of every verification.
    for node in _SPECIAL_NODES(root):
        _refuse_special(node)
    for element in root.iter():
        for uri in element.nsmap.values():
            if uri not in ALLOWED_NAMESPACES:
                raise DocumentNamespaceError(uri, namespace=uri)
    if _TOO_DEEP(root):
        raise DocumentTooDeepError
    for attribute in _FOREIGN_ATTRIBUTES(root):
        uri = etree.QName(attribute.attrname).namespace or ""
        if uri not in ALLOWED_NAMESPACES:
            raise DocumentNamespaceError(uri, namespace=uri)


def _refuse_special(node: etree._Element) -> None:
    if isinstance(node, etree._Comment):  # noqa: SLF001 - lxml's public node classes are private-named
        raise DocumentCommentError
    if isinstance(node, etree._ProcessingInstruction):  # noqa: SLF001 - as above
        raise DocumentProcessingInstructionError


@functools.cache
def schema() -> etree.XMLSchema:
    """The shipped XSD, loaded once."""
    source = resources.files("zorgid.orgdoc").joinpath("schema/organisatiedocument-1.xsd")
    return etree.XMLSchema(etree.fromstring(source.read_bytes(), _parser()))


def check_schema(root: etree._Element) -> None:
    """Raise DocumentSchemaError with the first readable reason when ``root`` is not valid."""
    xsd = schema()
    if xsd.validate(root):
        return
    error = xsd.error_log.last_error
    if error is None:
        raise DocumentSchemaError("invalid", reason=N_("the document does not match the schema"))
    # libxml2's description of the violation is data: it exists in English only.
    where = _field_path(root, error.line)
    reason = f"{where}: {error.message}" if where else error.message
    raise DocumentSchemaError(error.message, reason=reason)


def _field_path(root: etree._Element, line: int) -> str:
    for node in root.iter():
        if node.sourceline == line and isinstance(node.tag, str):
            parent = node.getparent()
            names = [etree.QName(n).localname for n in (parent, node) if n is not None]
            return "/".join(names)
    return ""


def parse_document(data: bytes) -> tuple[etree._Element, OrganisationDocument]:
    """Parse and schema-check an (unsigned or signed) organisation document."""
    root = parse_untrusted(data)
    if root.tag != ROOT_TAG:
        raise DocumentSchemaError(
            str(root.tag),
            reason=Message(
                N_("the root element is {found}, not Organisatiedocument in namespace {namespace}"),
                {"found": repr(etree.QName(root).localname), "namespace": NS},
            ),
        )
    return root, from_tree(root)
