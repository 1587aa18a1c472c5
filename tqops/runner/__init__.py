"""The runner: a process of its own that runs one uploaded integration's code for a host, and
is handed nothing but that integration and, for each run, its own resolved configuration.

A worker (``tqops worker``, or the host's own) starts it as ``python -m tqops.runner`` in an
empty working directory, with an allow-listed environment and, where the host runs as root,
as an unprivileged user: it never sees the vault key, the store or its credentials, another
operation's secrets, or the data directory. It speaks JSON, one document per line, on its
standard input and output:

- first ``{"load": {"name", "version", "package", "sha256"}, "wheel": <base64>}``: the child
  unpacks the integration's package into its working directory, imports it and answers
  ``{"ready": "<version>"}``, or ``{"failed": "<one line>"}`` and exits;
- ``{"run": ID, "action", "options", "config", "inputs": [[type, value], ...],
  "concurrency"}``: a ``{"result": ID, "payload": {...}}`` per input (the JSON contract of
  ``tqops run --format json``, with each found indicator's summary), then ``{"ended": ID}``,
  with ``"error"`` when the run could not start (its options, its configuration);
- ``{"cancel": ID}`` stops a run within one request;
- ``{"test": ID, "config"}``: Test Connection, ``{"tested": ID, "steps": [...]}``;
- the child asks before each vendor call ``{"pace": N, "vendor", "rate"}`` and waits for
  ``{"paced": N, "delay": seconds}``: the rate holds with every worker's calls together;
- the end of its input ends it.

``config`` is ``{"values": {...}, "secrets": {field: value}, "files": {field: text}}``: the
values as resolved by the host, the secrets revealed for this run only, and the contents of
the files the configuration names (a CA bundle), which the runner cannot read where they are.
"""
