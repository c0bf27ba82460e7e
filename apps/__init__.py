"""The portal's Django apps: ``common`` (shared kernel) and the eight domain apps."""
