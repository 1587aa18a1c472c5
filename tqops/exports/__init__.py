"""Exports: a run's results handed on to other platforms, as a STIX 2.1 bundle
(:mod:`.stix`, for OpenCTI, TAXII and most TIPs) or a MISP event (:mod:`.misp`).

Both read results in the JSON contract of ``tqops run --format json`` with each input's TLP
(:class:`.values.Exported`), so ``tqops run`` and the host export the same way; both write
their document chunk by chunk; :mod:`.values` holds what they share: which observable a value
is (vendor values are checked, never trusted), text made safe to hand on, a result's verdict
and first-seen date.
"""
