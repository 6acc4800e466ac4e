"""The dashboard keeps no tables: every figure is counted from the other apps' rows when asked (figures.py)."""
