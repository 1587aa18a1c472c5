"""Publishing an operation: what leaves the runtime for people and platforms.

:mod:`.bundle` writes the uploadable integration file (a wheel), :mod:`.guide` and
:mod:`.guide_tables` render the operation guide from the manifest, :mod:`.upgrade` reports what
a new version changes for an admin.
"""
