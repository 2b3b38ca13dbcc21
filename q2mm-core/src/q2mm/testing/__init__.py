"""Tools for testing q2mm and its plugins: a NumPy reference engine and the engine
conformance kit that third-party engine packages run in their own test suites."""
