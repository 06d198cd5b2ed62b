"""UI-free controllers: the state and intents behind each pane, tested without a terminal.

A pane is a view over one of these: it binds keys, forwards them as method calls, and renders what
the controller tells it. The Cache controller's background work runs through a `Runner` the view
provides (`runner.py`), so it runs under Textual, in a headless command, or in a plain test.
"""
