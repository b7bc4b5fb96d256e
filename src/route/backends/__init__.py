"""Model server backends: one small interface, several implementations registered by name."""
