"""The download queue: job state machine, the engine and its child process, the job processes
(`worker`), the one caller of `snapshot_download` (`job`), the plan from the tree listing, Xet
error wording, cancellation plumbing, persistence and progress text.

UI-free: nothing here imports Textual or Rich.
"""
