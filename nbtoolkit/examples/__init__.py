"""Example data shipped with nbtoolkit so the support-ticket example runs offline.

:mod:`nbtoolkit.examples.tickets` generates seeded, realistic support tickets with knobs for drift
and label noise; ``notebooks/`` and ``make demo`` use it.
"""
