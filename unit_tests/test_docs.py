"""docs/contacts.md: every test its Faults table names as proof exists."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMED = re.compile(r"`((?:unit|integration)_tests/[\w/]+\.py)::([\w:]+)`")


def defined_tests(path: Path) -> set:
    """`name` and `Class::name` of every test function in `path`."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            found.add(node.name)
        elif isinstance(node, ast.ClassDef):
            found.update(f"{node.name}::{item.name}" for item in node.body if isinstance(item, ast.FunctionDef))
    return found


def test_every_test_the_docs_name_exists() -> None:
    named = NAMED.findall((ROOT / "docs" / "contacts.md").read_text())
    assert len(named) > 50
    missing = [f"{path}::{name}" for path, name in named if not (ROOT / path).is_file() or name not in defined_tests(ROOT / path)]
    assert missing == []
