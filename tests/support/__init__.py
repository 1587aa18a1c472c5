"""What the tests share beyond their fixtures (those are in ``tests/conftest.py``).

- :mod:`~tests.support.cli`: running ``tqops`` in-process and building its arguments;
- :mod:`~tests.support.vendors`: the credentials the vendor simulators take, and the
  configuration that reaches them;
- :mod:`~tests.support.hosting`: a real ``tqops serve`` in a process of its own, over TLS;
- :mod:`~tests.support.protocols`: that host as the protocol tests (ThreatQ, Cortex, MISP) use it;
- :mod:`~tests.support.browser`: Chromium driven by Playwright, for the console's tests;
- :mod:`~tests.support.forward_proxy`: a CONNECT proxy on loopback;
- :mod:`~tests.support.mapping_oracle`: the interpreter the compiled mapper is checked against.
"""
