"""Reading stored message content back: the shortcut in `parse_content`
(no second JSON walk for text that provably needs none) gives exactly what
the full path gives, for any stored text, Mastra's or ours."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mastra_storage.domain.memory import MessageContent
from mastra_storage.orm.types import dumps
from mastra_storage.repositories.messages import parse_content
from mastra_storage.values import MAX_JSON_DEPTH

ODD = ["\ud800", "\udfff", "😀", "é", "\x00", "\\", '"', "{", "["]
WORDS = ["NaN", "Infinity", "1e400", "\\u", "\\ud800", "e+999"]
texts = st.one_of(
    st.text(alphabet=st.one_of(st.characters(codec=None), st.sampled_from(ODD)), max_size=10),
    st.lists(st.sampled_from(WORDS + ODD), max_size=4).map("".join),
)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, texts),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(texts, children, max_size=3)
    ),
    max_leaves=10,
)


def full_path(text: str) -> Any:
    """`parse_content` without the shortcut: the result, or the error's type."""
    try:
        return MessageContent.model_validate_json(text)
    except Exception:
        pass
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = text
    if not isinstance(value, dict | list | str):
        value = text
    try:
        return MessageContent.model_validate(value)
    except Exception as error:
        return type(error)


def shortcut(text: str) -> Any:
    try:
        return parse_content(text)
    except Exception as error:
        return type(error)


def encodings(value: Any) -> list[str]:
    """Ways the same content is stored: ours (raw UTF-8), ASCII-escaped (as
    other writers do), and with Python's NaN / Infinity spellings."""
    ours = dumps(value) if _finite(value) else json.dumps(value)
    return [ours, json.dumps(value, ensure_ascii=True), json.dumps(value, allow_nan=True)]


def _finite(value: Any) -> bool:
    try:
        dumps(value)
        return True
    except ValueError:
        return False


@settings(max_examples=300, deadline=None, database=None)
@given(
    parts=st.lists(st.dictionaries(texts, json_values, max_size=3), max_size=3), meta=json_values
)
def test_the_shortcut_reads_any_stored_content_as_the_full_path(parts: Any, meta: Any) -> None:
    content = {"format": 2, "parts": parts, "metadata": meta}
    for text in encodings(content):
        assert shortcut(text) == full_path(text), text


SPECIAL = [
    '{"parts":[{"x":NaN}]}',
    '{"parts":[{"x":-Infinity}]}',
    '{"parts":[{"x":1e400}]}',
    '{"parts":[{"x":1E+308}]}',
    '{"parts":[{"text":"a\\ud800b"}]}',
    '{"parts":[{"text":"\\ud83d\\ude00"}]}',
    '{"parts":[' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "]}",
    '{"parts":[' + "[" * (MAX_JSON_DEPTH - 5) + "]" * (MAX_JSON_DEPTH - 5) + "]}",
    '"just text"',
    '["a", {"type": "text"}]',
    "not json",
    "42",
]


def test_the_shortcut_agrees_on_texts_it_must_not_take() -> None:
    for text in SPECIAL:
        assert shortcut(text) == full_path(text), text


# -- what saving stores: `MessageContent.to_stored` ---------------------------------


def dumped(content: MessageContent) -> dict[str, Any]:
    """`to_stored` as `model_dump`, pydantic's serializer, defines it."""
    stored = content.model_dump(exclude_unset=True)
    stored.setdefault("format", content.format)
    stored.setdefault("parts", content.parts)
    return stored


@settings(max_examples=300, deadline=None, database=None)
@given(
    given_keys=st.dictionaries(
        st.sampled_from(["format", "parts", "content", "metadata", "extra", "zz", "a"]),
        json_values,
        max_size=5,
    ),
    parts=st.lists(st.dictionaries(texts, json_values, max_size=3), max_size=3),
)
def test_stored_content_is_the_model_dump_text(given_keys: Any, parts: Any) -> None:
    """The stored JSON text (key order included) is what `model_dump` gives."""
    value = {**given_keys, "parts": parts} if "parts" in given_keys else given_keys
    try:
        content = MessageContent.model_validate(value)
    except Exception:
        return  # refused input: nothing is stored
    assert dumps(content.to_stored()) == dumps(dumped(content))
    for text in ("hello", [{"type": "text", "text": "x"}]):
        shaped = MessageContent.model_validate(text)
        assert dumps(shaped.to_stored()) == dumps(dumped(shaped))
