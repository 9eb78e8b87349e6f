"""The application layer: use cases in units of work, and the one composition root.

Entrypoints (CLI, API) and activities call these; they parse and present, and the rules the
use cases apply live in domain/.
"""
