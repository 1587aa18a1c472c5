"""Running an action over selected indicators.

:mod:`.inputs` checks each selected value by its platform type (after :mod:`.defang` made it
whole) before anything is sent, :mod:`.csvinput` reads selections from a ``type,value`` CSV,
:mod:`.runner` runs a :class:`Job` (bounded concurrency, cancel, progress), :mod:`.results`
holds what a run gives back, and :mod:`.breaker` stops a run when going on can only do harm.
"""
