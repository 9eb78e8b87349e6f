"""Every side effect of a journey, as activities whose dependencies are injected."""
