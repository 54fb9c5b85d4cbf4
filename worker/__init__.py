"""segsync: keeps LMS course groups in step with site-wide user segments."""

# The one place of the version: pyproject.toml reads it (dynamic), `segsync --version` shows it.
__version__ = "0.1.0"
