"""The ``ray`` engine (``engine.kind: ray``, the optional ``scale`` extra): stages submit block-wise
work to a Ray cluster and merge exact statistics on the driver. Only this room imports Ray, and
only when a stage runs with ``engine.kind: ray``; ``make run`` and ``make test`` never need it."""
