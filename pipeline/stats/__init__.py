"""The project's statistics, in one place: association between columns, intervals for rates and
disparities, bootstrap resampling, calibration bins and the sensitive views (each attribute and
their intersection).

Every audit (data, fairness, explain, privacy) calls these functions instead of carrying its own
copy, so one report can never print two values of the same statistic.
"""
