"""Bias mitigation, every concern in one room: what to mitigate (``targets``), fairlearn's
constraints (``moments``), the network as the estimator reductions refit (``estimator``), the
candidates themselves (``candidates``, ``reductions``), building, auditing and saving them
(``build``) and registering them in MLflow (``registry``).

It sits above training and the audits (it trains networks and audits them) and below the
stages; the served post-processed model stays beside the network in :mod:`pipeline.models`,
which MLflow's pyfunc wrapper loads without this package.
"""
