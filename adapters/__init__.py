"""Per-agency delivery adapters (HTTP push, pull inbox, file drop) and the agency-side client."""
