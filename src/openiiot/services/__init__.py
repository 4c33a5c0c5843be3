"""Use cases, ports (abstract repositories and stores), unit of work and the ingest pipeline."""
