"""Documentation from the code: `help()` and the API reference (`make docs`,
mkdocstrings, strict) need a docstring on every public class and method."""

from __future__ import annotations

import inspect
import re

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


def test_every_public_name_documents_its_methods_and_properties() -> None:
    """`help()` on any public class (models, embedders, reports, errors), not
    only the facades: each method and property it defines has a docstring."""
    missing = []
    for name in mastra_storage.__all__:
        cls = getattr(mastra_storage, name)
        if not inspect.isclass(cls):
            continue
        for member_name, member in public_members(cls).items():
            if inspect.isclass(member) or not (callable(member) or isinstance(member, property)):
                continue
            code = member.fget if isinstance(member, property) else member
            if not getattr(code, "__module__", "").startswith("mastra_storage"):
                continue  # pydantic's, Exception's: documented there
            if not (inspect.getdoc(member) or "").strip():
                missing.append(f"{name}.{member_name}")
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


# -- help() reads complete -----------------------------------------------------------

CONTEXT_MANAGERS = ("__enter__", "__exit__", "__aenter__", "__aexit__")
FACADES: tuple[type, ...] = (
    mastra_storage.MastraStorage,
    mastra_storage.DefaultStorage,
    mastra_storage.PostgresStorage,
    mastra_storage.AsyncMastraStorage,
    mastra_storage.AsyncDefaultStorage,
    mastra_storage.AsyncPostgresStorage,
    mastra_storage.Memory,
    mastra_storage.AsyncMemory,
)
SYNC_TWIN = {
    mastra_storage.AsyncMastraStorage: mastra_storage.MastraStorage,
    mastra_storage.AsyncMemory: mastra_storage.Memory,
}


def api_members(cls: type) -> dict[str, object]:
    """What `help(cls)` lists as the class's API: public methods and
    properties, and the context-manager methods a `with` runs."""
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if (not name.startswith("_") or name in CONTEXT_MANAGERS)
        and (callable(member) or isinstance(member, property))
        and not inspect.isclass(member)
    }


def mastra_names(doc: str) -> set[str]:
    """The Mastra calls a docstring names: `camelCase` names after "Mastra"."""
    names: set[str] = set()
    for part in re.findall(r"Mastra[^)]*?`([A-Za-z.]+)`", doc):
        if re.search(r"[a-z][A-Z]", part):
            names.add(part)
    return names


def test_every_public_method_names_its_mastra_counterpart_or_says_there_is_none() -> None:
    """Every public method and property of the facades and Memory (lifecycle,
    locks, context managers included) has a docstring that names the Mastra
    call it mirrors, or says it is our extension (Mastra has no such call)."""
    undocumented, vague = [], []
    for cls in FACADES:
        for name, member in api_members(cls).items():
            doc = inspect.getdoc(member) or ""
            if not doc.strip():
                undocumented.append(f"{cls.__name__}.{name}")
            elif name not in CONTEXT_MANAGERS and not (
                mastra_names(doc) or "Mastra" in doc or "extension" in doc
            ):
                vague.append(f"{cls.__name__}.{name}")
    assert undocumented == []
    assert vague == []


def test_every_async_method_names_the_same_mastra_call_as_its_sync_twin() -> None:
    """`help()` on an async class reads as complete as on the sync one: not
    "As `MastraStorage.x`" alone, but the Mastra call it mirrors."""
    differ = []
    for async_cls, sync_cls in SYNC_TWIN.items():
        sync_members = api_members(sync_cls)
        for name, member in api_members(async_cls).items():
            twin = sync_members.get(name.replace("__a", "__"))
            if twin is None:
                continue
            wanted = mastra_names(inspect.getdoc(twin) or "")
            given = mastra_names(inspect.getdoc(member) or "")
            if wanted - given:
                differ.append(f"{async_cls.__name__}.{name}: {sorted(wanted - given)}")
    assert differ == []


def test_every_parameter_is_described_in_its_docstring() -> None:
    """Each argument of a public method appears, by name, in its docstring
    (`help()` says what to pass without opening the source). `session` is
    described once on the class."""
    undescribed = []
    for cls in FACADES:
        for name, member in api_members(cls).items():
            if isinstance(member, property) or name in CONTEXT_MANAGERS:
                continue
            doc = inspect.getdoc(member) or ""
            for parameter in inspect.signature(member).parameters.values():
                if parameter.name in ("self", "session") or parameter.kind in (
                    parameter.VAR_POSITIONAL,
                    parameter.VAR_KEYWORD,
                ):
                    continue
                if not re.search(rf"\b{parameter.name}\b", doc):
                    undescribed.append(f"{cls.__name__}.{name}({parameter.name})")
    assert undescribed == []


def test_constructor_arguments_are_described_on_the_class() -> None:
    undescribed = [
        f"{cls.__name__}({parameter})"
        for cls in (mastra_storage.MastraStorage, mastra_storage.AsyncMastraStorage)
        for parameter in inspect.signature(cls.__init__).parameters
        if parameter not in ("self", "engine_options")
        if not re.search(rf"\b{parameter}\b", cls.__doc__ or "")
    ]
    assert undescribed == []
