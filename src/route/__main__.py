"""``python -m route`` runs the CLI."""

from route.cli.main import run

run()
