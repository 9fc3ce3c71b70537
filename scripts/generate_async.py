"""Generate the async facade's data methods from the sync facade.

The sync `MastraStorage` (mastra_storage/storage.py) is the one source: every
public method that takes `session=` is turned into a coroutine with the same
signature (an `AsyncSession` instead of a `Session`), awaiting `self._run(...)`
and the other data methods it calls. The result is
mastra_storage/_async_methods.py; a test fails when it is out of date.

    python scripts/generate_async.py          # rewrite the file
    python scripts/generate_async.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "mastra_storage" / "storage.py"
TARGET = ROOT / "mastra_storage" / "_async_methods.py"

HEADER = '''"""The async facade's data methods: GENERATED from storage.py by
scripts/generate_async.py. Do not edit; change the sync facade and regenerate.

Each method validates nothing itself: it awaits `self._run(operation, ...)`,
which runs the same `operations` function as the sync facade inside
`AsyncSession.run_sync`, so the logic exists once.
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


class ToAsync(ast.NodeTransformer):
    def __init__(self, names: set[str]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == "Session":
            return ast.copy_location(ast.Name(id="AsyncSession", ctx=node.ctx), node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "self"
            and (func.attr == "_run" or func.attr in self.names)
        ):
            return ast.copy_location(ast.Await(value=node), node)
        return node


def render() -> str:
    tree = ast.parse(SOURCE.read_text())
    methods = data_methods(tree)
    names = {method.name for method in methods}
    domain_import = next(
        ast.unparse(node)
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "domain"
    )
    body = []
    for method in methods:
        converted = ToAsync(names).visit(method)
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
    code = (
        HEADER.format(domain_import=domain_import)
        + "\n"
        + "\n\n".join(
            "\n".join("    " + line if line else line for line in chunk.splitlines())
            for chunk in body
        )
        + "\n"
    )
    return tidy(code)


def tidy(code: str) -> str:
    """ruff: drop unused imports, sort them, format."""
    ruff = [sys.executable, "-m", "ruff"]
    name = str(TARGET)
    fixed = subprocess.run(
        [*ruff, "check", "--fix", "--select", "F401,I", "--stdin-filename", name, "-"],
        input=code, capture_output=True, text=True, check=False, cwd=ROOT,
    ).stdout  # fmt: skip
    return subprocess.run(
        [*ruff, "format", "--stdin-filename", name, "-"],
        input=fixed, capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip


def main() -> int:
    code = render()
    if "--check" in sys.argv[1:]:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != code:
            print(
                f"{TARGET.relative_to(ROOT)} is out of date: run python scripts/generate_async.py"
            )
            return 1
        return 0
    TARGET.write_text(code)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
