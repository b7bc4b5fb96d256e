"""route: hand token-heavy code generation to a local model, safely and measurably."""

__version__ = "0.1.0"
