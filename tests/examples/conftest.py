"""The examples are operations as a newcomer writes them: each is its own distribution, with its
own tests that import its package, which is not installed here. tests/test_example_*.py put an
example on the path and run its tests; tqops' own suite does not collect them."""

collect_ignore_glob = ["*"]
