"""Page-number pagination with a client-chosen page size (bounded)."""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class PagePagination(PageNumberPagination):
    """``?page=N&page_size=M`` (M at most 500); answers ``{count, next, previous, results}``."""

    page_size_query_param = "page_size"
    max_page_size = 500
