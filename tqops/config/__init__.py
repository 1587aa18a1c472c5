"""Configuration and secrets: the values an admin enters for an operation's fields, and the
options of a run.

:mod:`.values` checks a raw configuration against the manifest's fields (:class:`Config`) and
keeps a stored one with its secrets as entered (:class:`StoredConfig`); :mod:`.options` does the
same for an action's options; :mod:`.references` resolves ``env:`` and ``file:`` secret
references, :mod:`.files` reads a named file within a bound, :mod:`.formats` checks single values
by format (host names, ranges, dates, lists).
"""
