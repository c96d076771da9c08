"""`python -m runnerfleet.strictaws`: the sandbox's strict AWS emulator (see server.py)."""

from runnerfleet.strictaws.server import main

main()
