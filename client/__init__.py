"""The client layer: what every caller of cellpath (the CLI, the demo, tests, the bench,
the staff web app) uses to refer, act, read and list pathways and centres.

Modules: ``connection`` (reaching Temporal), ``pathways``, ``centres``, ``audit`` (export
formats), ``diagrams``, ``logs``, ``errors`` (the client's refusals).
"""
