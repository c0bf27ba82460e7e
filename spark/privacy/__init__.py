"""Privacy operations on the lake: erasure of data subjects (``erase``) and atomic file replacement (``rewrite``)."""
