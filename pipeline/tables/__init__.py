"""The tables of the pipeline's extension points: fairness criteria and rates, explain methods.

Plain data (the standard library only), on the lowest floor with the config, so that the
config validates names against them and every layer (audit, mitigation, report, glossary)
reads the same rows. Adding a criterion or an explain method starts with a row here.
"""
