import os

# The CDK's concurrent source sleeps between retries; unit tests answer at once.
os.environ.setdefault("AIRBYTE_TEST_MODE", "1")
