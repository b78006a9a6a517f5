"""The post-sweep analysis: report, importance, plots, recommendations, text, and the best
trial as overrides (`python -m diffexp.analyze`, `best_of=`, `fix_best_of`)."""
