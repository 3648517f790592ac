"""The flow engine: pure, values in and values out."""
