"""UI-free controllers: the state and intents behind each pane, tested without a terminal."""
