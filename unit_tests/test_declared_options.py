"""A custom component's options are its own fields: an option its class does not have fails at start-up, naming it."""

import shutil
import subprocess
import sys
from pathlib import Path

from source_contacts import SourceContacts
from source_contacts.components.declared_options import undeclared_options

PACKAGE = Path(__file__).resolve().parent.parent / "source_contacts"


def test_every_option_the_manifest_declares_is_a_field_of_its_component() -> None:
    assert undeclared_options(SourceContacts().resolved_manifest) == []


def test_a_misspelt_option_makes_spec_fail_naming_it(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "source_contacts", ignore=shutil.ignore_patterns("__pycache__"))
    manifest = tmp_path / "source_contacts" / "manifest.yaml"
    text = manifest.read_text()
    assert text.count("    longest_window_days: 365\n") == 1
    manifest.write_text(text.replace("    longest_window_days: 365\n", "    longest_window_day: 365\n"))

    spec = subprocess.run([sys.executable, "-c", "from source_contacts.run import run; run()", "spec"], cwd=tmp_path,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120)

    assert spec.returncode == 1
    assert '"type":"TRACE"' in spec.stdout
    assert ("streams[2].streams[0].retriever: AdaptiveWindowRetriever has no option 'longest_window_day'" in spec.stdout), spec.stdout[-2000:]
