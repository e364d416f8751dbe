"""Domain bindings: the deployed contracts as typed Python calls, with decoded errors."""
