"""The command line: a thin shell. One module per command group; no business logic here."""
