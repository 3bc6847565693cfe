"""Dev tooling: the embedded dev stack, the codec server, the demo programme and the docs
generated from the charts. ``cellpath dev``, ``codec-server`` and ``docs`` call into it."""
