"""The ``cellpath`` command: argument parsing and rendering over the client layer (``client/``)."""
