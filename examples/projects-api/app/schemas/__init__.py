"""One module per resource: validation of input JSON into clean fields."""
