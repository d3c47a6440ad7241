"""Management reviews: inputs, decisions and actions, the report."""
