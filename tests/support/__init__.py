"""What the unit and integration tests share: drivers, factories, sinks and waits."""
