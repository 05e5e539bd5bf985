"""docs/integrations/sources/contacts.md: Airbyte's layout of a source page, and every test its Faults table names
as proof exists."""

import ast
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "integrations" / "sources" / "contacts.md"
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
    named = NAMED.findall(DOCS.read_text())
    assert len(named) > 50
    missing = [f"{path}::{name}" for path, name in named if not (ROOT / path).is_file() or name not in defined_tests(ROOT / path)]
    assert missing == []


def test_the_page_has_airbytes_sections_in_order_and_the_changelog_in_a_details_block() -> None:
    text = DOCS.read_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    airbyte = ["Prerequisites", "Setup guide", "Supported sync modes", "Supported streams", "Performance considerations", "Changelog"]
    assert [h for h in headings if h in airbyte] == airbyte
    assert headings[-1] == "Changelog"
    changelog = text.split("\n## Changelog\n", 1)[1]
    assert re.match(r"\s*<details>\s*<summary>Expand to review</summary>\s*\| Version \| Date \| Pull Request \| Subject \|", changelog)
    assert changelog.rstrip().endswith("</details>")


def test_the_newest_changelog_entry_is_the_version_in_metadata() -> None:
    versions = re.findall(r"^\| (\d+\.\d+\.\d+) \|", DOCS.read_text(), flags=re.MULTILINE)
    metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text())
    assert versions and versions[0] == metadata["data"]["dockerImageTag"]
