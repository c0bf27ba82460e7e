"""Template tags and filters of the data-quality pages."""
