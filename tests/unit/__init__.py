"""Tests without a server: charts, models, protocols, the import graph, replay."""
