"""The JSON API: the twin of each page, the reads the SDK needs, and its writes."""
