# Image in the shape of Airbyte's Python connector images. The base tag and digest must match
# metadata.yaml (data.connectorBuildOptions.baseImage); integration_tests/test_packaging.py checks both.
# 4.0.2 is the last base on Python 3.11, the version the connector is tested on.
FROM docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73

WORKDIR /airbyte/integration_code

# Only what the package needs, so edits to tests or docs do not invalidate the install layer.
COPY setup.py main.py ./
COPY source_contacts ./source_contacts
RUN pip install --no-cache-dir .

ENV AIRBYTE_ENTRYPOINT="python /airbyte/integration_code/main.py"
ENTRYPOINT ["python", "/airbyte/integration_code/main.py"]

LABEL io.airbyte.name=airbyte/source-contacts
LABEL io.airbyte.version=0.3.0
