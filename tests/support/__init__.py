"""Plain helpers of the tests, imported as `from support.data import synthetic_digits`; the
pytest fixtures built on them stay in tests/conftest.py. benchmarks/serve.py uses `ports` and
`polling` too, so those two import nothing of pytest."""
