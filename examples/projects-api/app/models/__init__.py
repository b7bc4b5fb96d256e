"""One module per resource: the frozen dataclass the service stores."""
