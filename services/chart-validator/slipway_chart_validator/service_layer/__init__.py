"""The chart validator's use cases: charts (commands and queries), archives, validations,
and the validation pipeline they run."""
