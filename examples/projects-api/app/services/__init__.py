"""One module per resource: create, read, update and delete over a Repository."""
