"""runnerfleet: self-hosted GitHub Actions runners on AWS."""

__version__ = "0.1.0"
