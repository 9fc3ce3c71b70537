"""Column types that carry the invariants: UTC timestamps in Mastra's formats,
JSON that is JSONB on PostgreSQL, JSON on MySQL and text on SQLite, text that
keeps NUL; and the DDL types the migrations create, per dialect."""

from __future__ import annotations

import json
import json.encoder
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy import JSON, DateTime, Double, LargeBinary, Text, cast
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.postgresql import ARRAY, DOUBLE_PRECISION, JSONB
from sqlalchemy.dialects.sqlite import REAL
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

from ..clock import UTC, format_iso, parse_iso, to_utc
from ..errors import ValidationError
from ..values import MARIADB_MAX_JSON_DEPTH, MAX_ID_LENGTH, clean_text, json_depth

# PostgreSQL text and jsonb cannot hold U+0000. Such strings are stored with a
# reversible escape built on a private-use character: U+E000 is doubled, and NUL
# becomes U+E000 "0". Nothing changes on other backends, or for strings
# without either character.
_MARK = "\ue000"
_DECODE = re.compile("\ue000([\ue0000])")


def encode_nul(text: str) -> str:
    if "\x00" not in text and _MARK not in text:
        return text
    return text.replace(_MARK, _MARK + _MARK).replace("\x00", _MARK + "0")


def decode_nul(text: str) -> str:
    if _MARK not in text:
        return text
    return _DECODE.sub(lambda m: _MARK if m.group(1) == _MARK else "\x00", text)


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {fn(k) if isinstance(k, str) else k: _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_map_strings(v, fn) for v in value]
    return value


def _has_nul_or_mark(value: Any) -> bool:
    """Whether a string in `value` (keys too) holds NUL or the escape mark, so
    that it needs `encode_nul`. Read off its JSON text, made in C: cheaper than
    walking the value in Python, which is then needed only when the answer is
    yes (or when the value is not plain JSON)."""
    try:
        text = dumps(value)
    except (TypeError, ValueError):
        return True
    return "\\u0000" in text or _MARK in text


def _is_postgres(dialect: Dialect) -> bool:
    return dialect.name == "postgresql"


def _is_mysql(dialect: Dialect) -> bool:
    return dialect.name == "mysql"


def _mysql_json(value: Any, dialect: Dialect) -> Any:
    """A value for a MySQL JSON column (the JSON type serializes it); on
    MariaDB one nested deeper than it takes is a `ValidationError`, raised
    while binding, before anything is sent."""
    if getattr(dialect, "is_mariadb", False) and isinstance(value, dict | list):
        depth = json_depth(value)
        if depth > MARIADB_MAX_JSON_DEPTH:
            raise ValidationError(
                f"a JSON value nested {depth} levels deep (JSON_DEPTH): MariaDB stores "
                f"at most {MARIADB_MAX_JSON_DEPTH}"
            )
    return value


MYSQL_COLLATION = "utf8mb4_nopad_bin"
"""The collation of our tables on MariaDB: binary (text compares exactly,
case and accents included, as on PostgreSQL and SQLite) and NO PAD (`'a'` and
`'a '` are two ids, as there)."""
MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": MYSQL_COLLATION,
}
"""Every table on MariaDB: InnoDB, utf8mb4 (any Unicode, emoji too),
`MYSQL_COLLATION`."""


@dataclass(frozen=True)
class ColumnTypes:
    """The DDL types of one dialect, as the migrations create the tables:
    Mastra's on PostgreSQL and SQLite; on MySQL/MariaDB ids are
    `VARCHAR(MAX_ID_LENGTH)` (key columns cannot be TEXT), other text
    LONGTEXT, JSON a JSON column, timestamps `DATETIME(3)` holding UTC."""

    id: TypeEngine[Any]
    text: TypeEngine[Any]
    json: TypeEngine[Any]
    timestamp: TypeEngine[Any]
    float: TypeEngine[Any]
    blob: TypeEngine[Any]
    table_options: dict[str, str]


def column_types(dialect: Dialect) -> ColumnTypes:
    """`ColumnTypes` of a dialect (PostgreSQL, SQLite, MySQL/MariaDB)."""
    dialect_name = dialect.name
    if dialect_name == "postgresql":
        return ColumnTypes(
            Text(), Text(), JSONB(), DateTime(timezone=False), Double(), LargeBinary(), {},
        )  # fmt: skip
    if dialect_name == "mysql":
        return ColumnTypes(
            mysql.VARCHAR(MAX_ID_LENGTH), mysql.LONGTEXT(), mysql.JSON(), mysql.DATETIME(fsp=3),
            mysql.DOUBLE(), mysql.LONGBLOB(), dict(MYSQL_TABLE_OPTIONS),
        )  # fmt: skip
    return ColumnTypes(Text(), Text(), Text(), Text(), REAL(), LargeBinary(), {})


# One encoder for every call: `json.dumps` with non-default options builds a new
# JSONEncoder each time, which costs more than encoding a small object.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _encoded_by_python(value: Any) -> str:
    return _ENCODER.encode(value)


def _encoded_in_c(value: Any) -> str:
    # What `_ENCODER.encode` runs for a one-shot encoding (a fresh marker dict,
    # so circular values are refused the same way), without its Python layers.
    chunks = _c_make_encoder(
        {}, _ENCODER.default, encode_basestring, None, ":", ",", False, False, False
    )(value, 0)
    return "".join(chunks)


def _pick_dumps() -> Callable[[Any], str]:
    """`_encoded_in_c` where this Python's C encoder takes those arguments and
    writes what `_ENCODER` writes; otherwise `_ENCODER.encode` itself."""
    probe = {"a": [1, 2.5, None, True, 'é"\n'], "b": {}}
    try:
        if _c_make_encoder is not None and _encoded_in_c(probe) == _encoded_by_python(probe):
            return _encoded_in_c
    except Exception:  # another signature: keep the public path
        pass
    return _encoded_by_python


_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_dumps = _pick_dumps()


def dumps(value: Any) -> str:
    """`value` as compact JSON text, non-ASCII kept, NaN and infinity refused."""
    return _dumps(value)


def encode_json_text(value: Any) -> str:
    """`value` as the JSON text PostgreSQL stores for it (strings NUL-escaped)."""
    return dumps(_map_strings(value, encode_nul) if _has_nul_or_mark(value) else value)


def loads_blob(blob: bytes) -> Any:
    """A JSON column read as a BLOB: SQLite's binary JSONB, which newer
    `@mastra/libsql` writes (`jsonb(?)`), or else UTF-8 JSON text."""
    try:
        value, end = _jsonb_element(blob, 0)
        if end == len(blob):
            return value
    except (IndexError, ValueError):
        pass
    return json.loads(blob.decode("utf-8"))


def _jsonb_element(blob: bytes, start: int) -> tuple[Any, int]:
    """Decode one element of SQLite's JSONB format (sqlite.org/jsonb.html):
    a header (type in the low nibble, payload size in the high one or in the
    1/2/4/8 bytes after it) and the payload. Returns it and where it ends."""
    kind, size, pos = blob[start] & 0x0F, blob[start] >> 4, start + 1
    if size >= 12:
        width = 1 << (size - 12)
        size, pos = int.from_bytes(blob[pos : pos + width], "big"), pos + width
    end = pos + size
    if end > len(blob):
        raise ValueError("truncated JSONB")
    payload = blob[pos:end]
    if kind <= 2 and size == 0:  # NULL, TRUE, FALSE
        return (None, True, False)[kind], end
    if kind in (3, 5):  # INT, FLOAT: canonical JSON number text
        return json.loads(payload), end
    if kind == 4:  # INT5: JSON5 integer (hexadecimal, leading +)
        return int(payload.decode("ascii"), 0), end
    if kind == 6:  # FLOAT5: JSON5 float (.5, 5., Infinity, NaN)
        return float(payload.decode("ascii")), end
    if kind in (7, 10):  # TEXT, TEXTRAW: the characters themselves
        return payload.decode("utf-8"), end
    if kind == 8:  # TEXTJ: text with JSON escapes
        return json.loads(b'"' + payload + b'"'), end
    if kind in (11, 12):  # ARRAY, OBJECT
        items: list[Any] = []
        while pos < end:
            item, pos = _jsonb_element(blob, pos)
            items.append(item)
        if pos != end or (kind == 12 and len(items) % 2):
            raise ValueError("malformed JSONB container")
        return (items if kind == 11 else dict(zip(items[::2], items[1::2], strict=True))), end
    raise ValueError(f"unsupported JSONB element {kind}/{size}")  # TEXT5, reserved, bad sizes


class UTCDateTime(TypeDecorator[datetime]):
    """Mastra's timestamp column: ISO `...Z` text on SQLite, `timestamp`
    (without time zone, holding UTC) elsewhere. Refuses naive datetimes."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        if _is_mysql(dialect):
            return dialect.type_descriptor(mysql.DATETIME(fsp=3))
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return format_iso(value)
        return to_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return parse_iso(value)
        stored: datetime = value
        return stored.replace(tzinfo=UTC) if stored.tzinfo is None else to_utc(stored)

    # The processors below are the two methods above without TypeDecorator's
    # wrapping, where the dialect's own type has no processing to chain: they
    # run for every timestamp of every row written or read.

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if _has_own_processing(self, dialect, "bind"):
            return super().bind_processor(dialect)
        if dialect.name == "sqlite":
            return lambda value: None if value is None else format_iso(value)
        return lambda value: None if value is None else to_utc(value).replace(tzinfo=None)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if _has_own_processing(self, dialect, "result", coltype):
            return super().result_processor(dialect, coltype)
        # SQLite's text read as `process_result_value` reads it, in one frame.
        return lambda value: (
            None
            if value is None
            else parse_iso(value)
            if type(value) is str
            else self.process_result_value(value, dialect)
        )


class UTCDateTimeTZ(TypeDecorator[datetime]):
    """The `"<col>Z"` timestamptz twins that Mastra keeps on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        return None if value is None else to_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else to_utc(value)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if _has_own_processing(self, dialect, "bind"):
            return super().bind_processor(dialect)
        return lambda value: None if value is None else to_utc(value)


def _has_own_processing(
    decorator: TypeDecorator[Any], dialect: Dialect, kind: str, coltype: Any = None
) -> bool:
    """Whether the dialect's type under `decorator` processes values itself
    (then TypeDecorator's chaining is kept as it is)."""
    impl = decorator.load_dialect_impl(dialect)
    if kind == "bind":
        return impl.bind_processor(dialect) is not None
    return impl.result_processor(dialect, coltype) is not None


class JSONValue(TypeDecorator[Any]):
    """JSON: `jsonb` on PostgreSQL, JSON text in a TEXT column elsewhere (as Mastra).

    SQL NULL stands for Python None. Index access (`col["status"].as_string()`)
    works on both backends through SQLAlchemy's JSON comparator.
    """

    impl = JSON(none_as_null=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _is_postgres(dialect):
            return dialect.type_descriptor(JSONB(none_as_null=True))
        if _is_mysql(dialect):
            return dialect.type_descriptor(mysql.JSON(none_as_null=True))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if _is_postgres(dialect):
            return _map_strings(value, encode_nul) if _has_nul_or_mark(value) else value
        if _is_mysql(dialect):
            return _mysql_json(value, dialect)  # the JSON type serializes it
        return dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if _is_postgres(dialect):
            return _map_strings(value, decode_nul)
        if _is_mysql(dialect):
            return value  # the JSON type parsed it
        if isinstance(value, bytes | bytearray):
            return loads_blob(bytes(value))
        if isinstance(value, str):
            return json.loads(value)
        return value

    # The processors below are the two methods above, for JSON text (SQLite),
    # without TypeDecorator's wrapping: they run for every JSON value written
    # or read (a workflow snapshot, a thread's metadata).

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if (
            _is_postgres(dialect)
            or _is_mysql(dialect)
            or _has_own_processing(self, dialect, "bind")
        ):
            return super().bind_processor(dialect)
        return lambda value: None if value is None else dumps(value)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if (
            _is_postgres(dialect)
            or _is_mysql(dialect)
            or _has_own_processing(self, dialect, "result", coltype)
        ):
            return super().result_processor(dialect, coltype)
        return lambda value: (
            None
            if value is None
            else json.loads(value)
            if type(value) is str
            else self.process_result_value(value, dialect)
        )


class SafeText(TypeDecorator[str]):
    """TEXT that round-trips NUL characters on PostgreSQL too (LONGTEXT on MySQL)."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _is_mysql(dialect):
            return dialect.type_descriptor(mysql.LONGTEXT())
        return self.impl_instance

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        # The checks inlined: this runs for every text value of every row.
        # Input checks replace lone surrogates already (`values.clean_text`);
        # this is the backstop, so no text can fail in the driver's encoder.
        if not _is_postgres(dialect):
            return lambda value: value if value is None or value.isascii() else clean_text(value)
        return lambda value: (
            value
            if value is None
            else encode_nul(clean_text(value))
            if "\x00" in value or _MARK in value
            else value
            if value.isascii()
            else clean_text(value)
        )

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if not _is_postgres(dialect):
            return None
        return lambda value: value if value is None or _MARK not in value else decode_nul(value)


class IdText(SafeText):
    """An id column (`values.MAX_ID_LENGTH` characters at most): TEXT, and on
    MySQL `VARCHAR(255)`, since key and index columns cannot be TEXT there
    (binary collation from the table: ids compare exactly)."""

    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _is_mysql(dialect):
            return dialect.type_descriptor(mysql.VARCHAR(MAX_ID_LENGTH))
        return self.impl_instance


class StringifiedJSON(TypeDecorator[Any]):
    """The JSON columns of `mastra_scorers`, as Mastra 1.x writes them: on
    PostgreSQL a `jsonb` *string* holding the value's JSON text (what
    `@mastra/pg` stores), JSON text in a TEXT column on SQLite, and the value
    itself in a JSON column on MySQL (no Mastra adapter to agree with there).

    Read back like Mastra's `safelyParseJSON`: a string that parses as JSON is
    that value, any other value (an object some other writer stored as real
    jsonb, or a SQLite JSONB blob) is taken as it is. Storing the text keeps a
    string such as `"42"` a string for Mastra's reader, which parses it.
    """

    impl = JSON(none_as_null=True)
    cache_ok = True

    def __init__(self, *, null_as_json_on_postgresql: bool = False) -> None:
        super().__init__()
        self.null_as_json_on_postgresql = null_as_json_on_postgresql

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _is_postgres(dialect):
            return dialect.type_descriptor(JSONB(none_as_null=True))
        if _is_mysql(dialect):
            return dialect.type_descriptor(mysql.JSON(none_as_null=True))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if _is_mysql(dialect):
            return _mysql_json(value, dialect)  # the JSON type serializes it
        # NUL stays escaped (`\\u0000`) inside the text, so jsonb takes it.
        if value is None and not (self.null_as_json_on_postgresql and _is_postgres(dialect)):
            return None
        return dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None or _is_mysql(dialect):
            return value  # on MySQL the JSON type parsed it
        if isinstance(value, bytes | bytearray):
            return loads_blob(bytes(value))
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value


class PgVector(UserDefinedType[list[float]]):
    """pgvector's `vector` (in the schema the extension lives in, `schema`
    quoted as PostgreSQL prints it), of `dimension` when given: the type of
    `memory_messages.embedding` where the extension exists. A value is bound
    as a `double precision[]` and cast, so no text is formatted."""

    cache_ok = True

    def __init__(self, schema: str, dimension: int | None = None) -> None:
        self.schema = schema
        self.dimension = dimension

    def get_col_spec(self, **_: Any) -> str:
        size = "" if self.dimension is None else f"({int(self.dimension)})"
        return f"{self.schema}.vector{size}"

    def bind_expression(self, bindvalue: Any) -> ColumnElement[Any]:
        return cast(cast(bindvalue, ARRAY(DOUBLE_PRECISION)), self)
