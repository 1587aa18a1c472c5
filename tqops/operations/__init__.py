"""Operations: a manifest bound to a vendor's code, found through entry points.

:mod:`.operation` defines :class:`Operation` (manifest + client + one function per action) and
the :class:`ConfiguredOperation` that runs it; :mod:`.registry` finds the installed ones
(``tqops.operations`` entry points); :mod:`.vendor` is the base every vendor client builds on
(one HTTP client drawn from the fields' roles); :mod:`.variants` handles API generations;
:mod:`.diagnose` is Test Connection, step by step.
"""
