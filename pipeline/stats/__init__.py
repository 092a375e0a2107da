"""The project's statistics, in one place: association between columns, intervals for rates and
disparities, bootstrap resampling and calibration bins.

Every audit (data, fairness, explain, privacy) calls these functions instead of carrying its own
copy, so one report can never print two values of the same statistic.
"""
