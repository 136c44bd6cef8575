"""HTTP: controllers by resource, bodies, and the one map from outcomes to statuses and problem types."""
