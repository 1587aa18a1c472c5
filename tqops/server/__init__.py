"""The operation host (``tqops serve``): a store, a REST API and the protocols TIPs speak.

Needs the ``server`` extra (``pip install 'tqops[server]'``); nothing outside this package
imports it, so the runtime that operations import stays lean.
"""
