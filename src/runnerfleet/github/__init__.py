"""runnerfleet.github package."""
