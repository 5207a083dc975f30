"""Root pytest configuration: loads the CDK's standard-test hooks (--connector-image, scenarios)."""

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]
