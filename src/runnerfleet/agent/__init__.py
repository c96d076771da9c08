"""runnerfleet.agent package."""
