"""Pure model and rules of the journey engine: no I/O, safe inside Temporal workflows."""
