"""Generate the async classes' methods from the sync ones.

Two sync classes are the one source of their async twins:

- `MastraStorage` (mastra_storage/storage.py): every public method that takes
  `session=` becomes a coroutine with the same signature (an `AsyncSession`
  instead of a `Session`), awaiting `self._run(...)` and the other data
  methods it calls: mastra_storage/_async_methods.py.
- `Memory` (mastra_storage/memory/memory.py): every public method becomes a
  coroutine awaiting the storage's methods (`self.storage.<name>(...)`) and
  the embedder (`self._embed(...)`): mastra_storage/memory/_async_methods.py,
  which `AsyncMemory` inherits.

A test fails when either file is out of date.

    python scripts/generate_async.py          # rewrite the files
    python scripts/generate_async.py --check  # exit 1 if one is out of date
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "mastra_storage" / "storage.py"
TARGET = ROOT / "mastra_storage" / "_async_methods.py"
MEMORY_SOURCE = ROOT / "mastra_storage" / "memory" / "memory.py"
MEMORY_TARGET = ROOT / "mastra_storage" / "memory" / "_async_methods.py"

HEADER = '''"""The async facade's data methods: GENERATED from storage.py by
scripts/generate_async.py. Do not edit; change the sync facade and regenerate.

Each method validates nothing itself: it awaits `self._run(operation, ...)`,
which runs the same `operations` function (and the same transaction code)
as the sync facade, in one greenlet, so the logic exists once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from . import operations
{domain_import}
from .locks import RunLockService
from .storage import arguments

if TYPE_CHECKING:
    from ._asyncio import AsyncSession

T = TypeVar("T")


class AsyncDataMethods(ABC):
    """Every data method of `MastraStorage`, as coroutines."""

    _run_locks: RunLockService

    @abstractmethod
    async def _run(
        self,
        operation: Callable[..., T],
        session: AsyncSession | None,
        *,
        write: bool,
        **kwargs: Any,
    ) -> T:
        """Run `operation(session, **kwargs)` in the caller's or a new transaction."""
'''


MEMORY_HEADER = '''"""`AsyncMemory`'s methods: GENERATED from memory.py (`Memory`) by
scripts/generate_async.py. Do not edit; change `Memory` and regenerate.

Each method is `Memory`'s with `await` on the async storage's methods and on
the embedder (`_embed`), so the orchestration exists once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

{imports}

if TYPE_CHECKING:
    from ..async_storage import AsyncMastraStorage


class AsyncMemoryMethods(_MemoryBase, ABC):
    """Every public method of `Memory`, as coroutines."""

    storage: AsyncMastraStorage
    _owns_storage: bool

    @abstractmethod
    async def _embed(self, texts: list[str]) -> Vectors:
        """The embedder's unit vectors for `texts` (`EmbeddingError` when it fails)."""
'''


def data_methods(tree: ast.Module) -> list[ast.FunctionDef]:
    cls = next(
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == "MastraStorage"
    )
    return [
        node
        for node in cls.body
        if isinstance(node, ast.FunctionDef)
        and not node.name.startswith("_")
        and any(arg.arg == "session" for arg in node.args.kwonlyargs)
    ]


def memory_methods(tree: ast.Module) -> list[ast.FunctionDef]:
    cls = next(
        node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Memory"
    )
    return [
        node
        for node in cls.body
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
    ]


class ToAsync(ast.NodeTransformer):
    """Make `self.<name>(...)` (storage) or `self.storage.<any>(...)` and
    `self._embed(...)` (memory) awaited calls."""

    def __init__(self, names: set[str], *, memory: bool = False) -> None:
        self.names = names
        self.memory = memory

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == "Session":
            return ast.copy_location(ast.Name(id="AsyncSession", ctx=node.ctx), node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and (self.on_self(func) or self.on_storage(func)):
            return ast.copy_location(ast.Await(value=node), node)
        return node

    def on_self(self, func: ast.Attribute) -> bool:
        awaited = {"_embed"} if self.memory else {"_run"}
        return (
            isinstance(func.value, ast.Name)
            and func.value.id == "self"
            and (func.attr in awaited or func.attr in self.names)
        )

    def on_storage(self, func: ast.Attribute) -> bool:
        target = func.value
        return (
            self.memory
            and isinstance(target, ast.Attribute)
            and target.attr == "storage"
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
        )


def coroutines(methods: list[ast.FunctionDef], *, memory: bool = False) -> str:
    """The methods as coroutines, indented as a class body."""
    names = {method.name for method in methods}
    body = []
    for method in methods:
        converted = ToAsync(names, memory=memory).visit(method)
        asynced = ast.AsyncFunctionDef(
            name=converted.name,
            args=converted.args,
            body=converted.body,
            decorator_list=converted.decorator_list,
            returns=converted.returns,
            type_comment=None,
            type_params=[],
        )
        body.append(ast.unparse(ast.fix_missing_locations(asynced)))
    return "\n\n".join(
        "\n".join("    " + line if line else line for line in chunk.splitlines()) for chunk in body
    )


def render() -> str:
    tree = ast.parse(SOURCE.read_text())
    domain_import = next(
        ast.unparse(node)
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "domain"
    )
    code = HEADER.format(domain_import=domain_import) + "\n" + coroutines(data_methods(tree))
    return tidy(code + "\n", TARGET)


def render_memory() -> str:
    """memory.py's imports and module-level names are all in scope (ruff drops
    the unused ones); `Memory`'s public methods become `AsyncMemoryMethods`'."""
    tree = ast.parse(MEMORY_SOURCE.read_text())
    imports = [
        ast.unparse(node)
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom) and node.module != "__future__"
    ]
    defined = sorted(
        name
        for node in tree.body
        for name in (
            [node.name]
            if isinstance(node, ast.FunctionDef | ast.ClassDef)
            else [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
        )
        if name not in ("Memory", "__all__")
    )
    imports.append(f"from .memory import {', '.join(defined)}")
    code = (
        MEMORY_HEADER.format(imports="\n".join(imports))
        + "\n"
        + coroutines(memory_methods(tree), memory=True)
    )
    return tidy(code + "\n", MEMORY_TARGET)


def tidy(code: str, target: Path) -> str:
    """ruff: drop unused imports, sort them, format."""
    ruff = [sys.executable, "-m", "ruff"]
    name = str(target)
    fixed = subprocess.run(
        [*ruff, "check", "--fix", "--select", "F401,I", "--stdin-filename", name, "-"],
        input=code, capture_output=True, text=True, check=False, cwd=ROOT,
    ).stdout  # fmt: skip
    return subprocess.run(
        [*ruff, "format", "--stdin-filename", name, "-"],
        input=fixed, capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = 0
    for target, code in ((TARGET, render()), (MEMORY_TARGET, render_memory())):
        name = target.relative_to(ROOT)
        if not check:
            target.write_text(code)
            print(f"wrote {name}")
        elif (target.read_text() if target.exists() else "") != code:
            print(f"{name} is out of date: run python scripts/generate_async.py")
            stale = 1
    return stale


if __name__ == "__main__":
    sys.exit(main())
