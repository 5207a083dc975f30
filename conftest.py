"""Root pytest configuration: loads the CDK's standard-test hooks (--connector-image, scenarios), the
image tests' fixtures (integration_tests/image_fixtures.py), the suite's rule on skips
(integration_tests/skip_policy.py) and pytester (to test that rule). Fixtures reach a test module only
from a conftest or a plugin, and plugins may be named only here."""

pytest_plugins = [
    "airbyte_cdk.test.standard_tests.pytest_hooks",
    "integration_tests.image_fixtures",
    "integration_tests.skip_policy",
    "pytester",
]
