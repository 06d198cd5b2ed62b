"""UI-free controllers: plain classes with observable state and intents as methods.

A pane is a view over one of these: it binds keys, forwards them as method calls, and renders what
the controller tells its listeners. Background work runs through a `Runner` the view provides, so
the same controller runs under Textual, in a headless command, or in a plain test.
"""
