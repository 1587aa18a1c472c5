"""What an operation package's own tests use: the shared conformance suite
(:mod:`tqops.testing.conformance`, probing with :mod:`tqops.testing.probes`) and a loopback
fake vendor (:mod:`tqops.testing.fake_vendor`).

Nothing in tqops imports this package, and importing it needs neither pytest nor trustme: the
checks are plain functions that raise :class:`AssertionError`, and the fake vendor asks for
trustme (tqops' ``test`` extra) only when it starts.
"""
