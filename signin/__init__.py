"""Staff sign-in: who a person is, proved once, then carried on every action as a signed assertion."""
