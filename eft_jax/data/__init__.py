"""Data in and out: crops, dataset readers, synthetic data, and file writers."""
