"""Forecasting engine: features, quantile models, RUL, baselines, diagnosis, back-tests.

Plain Python on numpy, pandas and LightGBM, no Django: the portal's tasks feed it a long table of
daily aggregates and store what it returns. LightGBM is imported inside functions only.
"""
