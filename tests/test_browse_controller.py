"""BrowseController without a terminal: a recording view, an inline runner, the real local Hub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hubfixtures import DATASET, GATED, MODEL, download_into, hub_server, small_spec  # noqa: F401

from hftui.core.controllers.browse import BrowseController, Inputs, Loaded, Notice
from hftui.core.hub.patterns import Preview, Selection, join_globs
from hftui.core.hub.remote import HubRemote, Remote, RemoteError, SearchHit
from hftui.hub import Fault, HubServer


class RecordingView:
    """A BrowseView that remembers what it was told; its pattern bar is plain fields."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.bar = Inputs()

    def inputs(self) -> Inputs:
        return self.bar

    def type_globs(self, include: str = "", exclude: str = "") -> None:
        self.bar = Inputs(include, exclude, self.bar.local_dir, self.bar.force)

    def said(self) -> list[Notice]:
        return [arg for name, arg in self.calls if name == "notice"]

    def last(self, name: str) -> Any:
        return [arg for n, arg in self.calls if n == name][-1]

    def show_notice(self, notice: Notice) -> None:
        self.calls.append(("notice", notice))

    def show_selection(self, selection: Selection) -> None:
        self.bar = Inputs(
            join_globs(selection.include), join_globs(selection.exclude), self.bar.local_dir, self.bar.force
        )
        self.calls.append(("selection", selection))

    def show_preview(self, preview: Preview) -> None:
        self.calls.append(("preview", preview))

    def show_bar_problem(self, text: str) -> None:
        self.calls.append(("bar_problem", text))

    def show_loading(self, label: str) -> None:
        self.calls.append(("loading", label))

    def show_load_failed(self, label: str, error: RemoteError) -> None:
        self.calls.append(("load_failed", (label, error)))

    def show_listing(self, label: str, loaded: Loaded, reveal: str | None) -> None:
        self.calls.append(("listing", (label, loaded, reveal)))

    def show_local(self, local: Any) -> None:
        self.calls.append(("local", local))

    def show_revision(self, revision: str) -> None:
        self.calls.append(("revision", revision))

    def show_repo_type(self, repo_type: str) -> None:
        self.calls.append(("repo_type", repo_type))

    def show_search(self, query: str, repo_type: str, hits: list[SearchHit]) -> None:
        self.calls.append(("search", hits))


def inline(
    group: str,
    work: Callable[[], Any],
    done: Callable[[Any], None],
    failed: Callable[[BaseException], None],
    *,
    exclusive: bool = True,
) -> None:
    """The runner of these tests: the work runs at once, on the calling thread."""
    try:
        result = work()
    except Exception as exc:
        failed(exc)
        return
    done(result)


def controller(
    hub: HubServer, cache: Path, remote: Remote | None = None
) -> tuple[BrowseController, RecordingView]:
    view = RecordingView()
    given = remote or HubRemote(hub.endpoint, token=False)
    return BrowseController(view, inline, cache_dir=cache, endpoint=hub.endpoint, remote=lambda: given), view


def test_open_lists_files_marks_what_is_cached_and_previews(tmp_path: Path, hub: HubServer) -> None:
    download_into(tmp_path, hub, MODEL, allow_patterns=["config.json"])
    c, view = controller(hub, tmp_path)
    assert c.open(MODEL)
    assert c.listing is not None and {f.path for f in c.listing.files} == {f for f in hub.files(MODEL)}
    label, loaded, reveal = view.last("listing")
    assert label.startswith(f"{MODEL}@main (") and reveal is None
    assert loaded.local.state("config.json") == "cached"
    assert "1 cached" in c.notice.text and c.notice.severity == "information"
    p = view.last("preview")
    assert p.count == len(c.listing.files)
    assert p.download_files == len(c.listing.files) - 1  # config.json is already here


def test_typed_globs_and_toggles_shape_the_selection(tmp_path: Path, hub: HubServer) -> None:
    c, view = controller(hub, tmp_path)
    c.open(MODEL)
    view.type_globs("*.json")
    c.inputs_changed()
    assert c.selection.include == ("*.json",)
    assert c.last_preview is not None and all(path.endswith(".json") for path in c.last_preview.matched_paths)
    c.toggle("config.json", False)  # unselect one file: an exclude, typed back into the bar
    assert "config.json" not in c.last_preview.matched_paths
    assert view.bar.include == "*.json" and "config.json" in view.bar.exclude
    c.toggle("", True)  # the root: everything, then nothing
    c.toggle("", True)
    assert c.last_preview.count == 0 and c.notice.hint == "select_all"
    c.select_all()
    assert c.selection == Selection() and c.last_preview.count == len(c.listing.files)  # type: ignore[union-attr]
    view.type_globs('"unclosed')
    c.inputs_changed()
    assert view.last("bar_problem")  # an unusable glob is said where the preview goes


def test_queue_request_matches_the_preview_and_refuses_with_a_reason(tmp_path: Path, hub: HubServer) -> None:
    c, view = controller(hub, tmp_path)
    assert c.download_request() is None and c.notice.hint == "open_repo"
    c.open(f"{MODEL}/tree/main/onnx")
    request = c.download_request()
    assert request is not None and request.allow_patterns == ("onnx/*",) and request.repo_id == MODEL
    assert request.label.startswith(f"{MODEL}@main · ")
    view.type_globs("*.nothing-matches")
    c.inputs_changed()
    assert c.download_request() is None and c.notice.text.startswith("Not queued:")
    line = c.command_line(cache_dir=None)
    assert line is not None and "hf download" in line and MODEL in line


def test_gated_repo_is_listed_but_queuing_is_refused(tmp_path: Path, hub: HubServer) -> None:
    c, _ = controller(hub, tmp_path)
    c.open(GATED)
    assert c.listing is not None and c.access_error is not None
    assert c.download_request() is None and "Not queued" in c.notice.text


def test_a_failing_hub_is_said_with_a_retry_hint_and_the_cached_listing_stands_in(tmp_path: Path) -> None:
    with HubServer(small_spec()) as server:
        c, view = controller(server, tmp_path)
        server.add_fault(Fault(kind="status", path_glob=f"/api/models/{MODEL}*", status=500, times=10))
        c.open(MODEL)
        label, _error = view.last("load_failed")
        assert "not loaded" in label and c.notice.severity == "error" and c.notice.hint == "retry"
        assert "Press" not in c.notice.text  # the key is the view's business
        server.clear_faults()
        download_into(tmp_path, server, DATASET, repo_type="dataset")
        server.add_fault(Fault(kind="status", path_glob=f"/api/datasets/{DATASET}*", status=503, times=10))
        c.open(f"datasets/{DATASET}")
        assert c.listing is not None and c.listing.offline and c.notice.hint == "retry"
        assert c.download_request() is None and "Downloads need the Hub" in c.notice.text


def test_work_that_raises_reaches_the_user(tmp_path: Path, hub: HubServer) -> None:
    class Broken(HubRemote):
        def list_refs(self, repo_id: str, repo_type: str) -> Any:
            raise RuntimeError("refs exploded")

        def list_files(self, repo_id: str, repo_type: str, commit: str) -> Any:
            raise KeyError("boom")

    c, view = controller(hub, tmp_path, Broken(hub.endpoint, token=False))
    c.open(MODEL)
    assert c.listing is None and c.notice.severity == "error" and "KeyError" in c.notice.text
    assert view.last("load_failed")


def test_late_answers_for_a_repo_left_behind_are_dropped(tmp_path: Path, hub: HubServer) -> None:
    parked: list[Callable[[], None]] = []

    def later(
        group: str,
        work: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Any,
        *,
        exclusive: bool = True,
    ) -> None:
        result = work()
        parked.append(lambda: done(result))

    view = RecordingView()
    remote = HubRemote(hub.endpoint, token=False)
    c = BrowseController(view, later, cache_dir=tmp_path, endpoint=hub.endpoint, remote=lambda: remote)
    c.open(MODEL)
    first = list(parked)
    parked.clear()
    c.open(f"datasets/{DATASET}")
    for answer in first:  # the model's listing arrives after the dataset was asked for
        answer()
    assert c.listing is None
    for answer in parked:
        answer()
    assert c.listing is not None and c.listing.info.repo_id == DATASET
    assert ("repo_type", "dataset") in view.calls


def test_search_results_and_a_short_query(tmp_path: Path, hub: HubServer) -> None:
    c, view = controller(hub, tmp_path)
    c.search("b")
    assert c.notice.severity == "warning"
    c.search("bert")
    assert [h.repo_id for h in view.last("search")] == [MODEL] and c.notice.hint == "search_results"
    assert c.notice.text == "1 model repo match 'bert'." or c.notice.text.startswith("1 model repo")
