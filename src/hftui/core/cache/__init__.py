"""The cache on disk: scanning, filters, deletion plans and their execution, verification.

UI-free: nothing here imports Textual or Rich.
"""
