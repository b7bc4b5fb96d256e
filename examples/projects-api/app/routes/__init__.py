"""One module per resource: the HTTP handlers that call its service."""
