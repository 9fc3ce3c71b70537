"""Documentation from the code: `help()` and the API reference (`make docs`,
mkdocstrings, strict) need a docstring on every public class and method."""

from __future__ import annotations

import inspect

import mastra_storage
from mastra_storage import AsyncMastraStorage, MastraStorage, config, migrate


def public_members(cls: type) -> dict[str, object]:
    return {name: member for name, member in inspect.getmembers(cls) if not name.startswith("_")}


def test_every_public_method_and_class_has_a_docstring() -> None:
    missing = [
        f"{cls.__name__}.{name}"
        for cls in (MastraStorage, AsyncMastraStorage)
        for name, member in public_members(cls).items()
        if callable(member) or isinstance(member, property)
        if not (inspect.getdoc(member) or "").strip()
    ]
    missing += [
        name
        for name in mastra_storage.__all__
        if inspect.isclass(getattr(mastra_storage, name))
        and not (getattr(mastra_storage, name).__doc__ or "").strip()
    ]
    missing += [
        f"{module.__name__}.{name}"
        for module in (config, migrate)
        for name, member in vars(module).items()
        if inspect.isfunction(member)
        and member.__module__ == module.__name__
        and not name.startswith("_")
        and not (member.__doc__ or "").strip()
    ]
    assert missing == []


def test_every_data_method_names_what_it_mirrors() -> None:
    """A data method (one taking `session=`) says which Mastra call it mirrors,
    or that it is our extension."""
    vague = [
        name
        for name, member in public_members(MastraStorage).items()
        if callable(member) and "session" in inspect.signature(member).parameters
        if "Mastra" not in (inspect.getdoc(member) or "")
        and "extension" not in (inspect.getdoc(member) or "")
    ]
    assert vague == []
