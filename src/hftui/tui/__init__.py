"""Textual layer: app, panes, screens and widgets. Only this package imports Textual."""
