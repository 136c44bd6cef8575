"""A flash-sale engine: sells exactly the stock there is, once per request, and shows every attempt."""

__version__ = "0.1.0"
