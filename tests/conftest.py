"""Top-level pytest configuration shared by every test folder.

Fixture plugins must be declared here (pytest refuses ``pytest_plugins`` in
nested conftest files).
"""

pytest_plugins = ["autoscope.catalog.testing"]
