"""The download queue: job state machine, the engine and its child process, the one caller of
`snapshot_download`, cancellation plumbing, persistence and progress text.

UI-free: nothing here imports Textual or Rich.
"""
