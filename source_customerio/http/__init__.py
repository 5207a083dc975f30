"""The HTTP core shared by every stream: request budget, error table, backoff, pagination."""
