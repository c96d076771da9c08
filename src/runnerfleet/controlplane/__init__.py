"""runnerfleet.controlplane package."""
