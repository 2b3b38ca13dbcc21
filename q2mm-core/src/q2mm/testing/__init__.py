"""Tools for testing q2mm and its plugins: a NumPy reference engine, a traceable JAX
one (``traceable_engine``; imports JAX, so only on use) and the engine conformance kit
that third-party engine packages run in their own test suites."""
