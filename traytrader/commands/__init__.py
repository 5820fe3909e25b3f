"""One module per CLI sub-command; each exposes ``register(subparsers)``.

A module's ``register`` adds its parser and sets ``func=handler`` where
``handler(args) -> int`` returns the process exit code.
"""
