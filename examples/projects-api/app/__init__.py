"""projects-api: a small JSON service built on the standard library."""
