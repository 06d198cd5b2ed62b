"""The assumptions `hftui.core.compat` and `hftui.tui.compat` make about their dependencies' internals.

When one of these fails after an upgrade, fix the compat module (and its "checked against" line),
not the callers."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

from hftui.core import compat


def test_shared_store_names_and_functions_are_the_librarys() -> None:
    from huggingface_hub.utils import _shared_blobs

    assert compat.SHARED_BLOBS_DIR_NAME == _shared_blobs.SHARED_BLOBS_DIR_NAME
    assert compat.SHARED_BLOBS_MARKER_NAME == _shared_blobs.SHARED_BLOBS_MARKER_NAME
    assert f"{_shared_blobs.SHARED_BLOBS_LAYOUT_VERSION}\n" == compat.SHARED_BLOBS_MARKER_CONTENT
    for name in ("is_shared_blobs_dir", "shared_blobs_dir", "shared_blob_target", "sweep_shared_blob"):
        assert callable(getattr(_shared_blobs, name)), name
    assert list(inspect.signature(_shared_blobs.sweep_shared_blob).parameters) == ["store_path", "cache_dir"]


def test_shared_store_helpers_on_a_real_store(tmp_path: Path) -> None:
    assert not compat.shared_store_in_use(tmp_path)
    store = tmp_path / compat.SHARED_BLOBS_DIR_NAME
    store.mkdir()
    (store / compat.SHARED_BLOBS_MARKER_NAME).write_text(compat.SHARED_BLOBS_MARKER_CONTENT)
    assert compat.shared_store_in_use(tmp_path)
    assert compat.unreferenced_shared_blobs(tmp_path) == {}
    assert compat.shared_blob_target(tmp_path / "models--a--b" / "blobs" / "x", tmp_path) is None


def test_unit_tables_equal_the_librarys() -> None:
    from huggingface_hub.utils import _parsing

    assert compat.BYTE_UNITS == _parsing.BYTE_UNITS
    assert compat.TIME_UNITS == _parsing.TIME_UNITS


def test_download_chunk_size_is_a_constant_the_library_reads_at_call_time() -> None:
    from huggingface_hub import constants, file_download

    assert isinstance(constants.DOWNLOAD_CHUNK_SIZE, int)
    # Read through the module at call time (not bound at import), or overwriting it does nothing.
    assert "constants.DOWNLOAD_CHUNK_SIZE" in inspect.getsource(file_download)
    # Set in a child interpreter: the test process keeps the library's default.
    code = (
        "from hftui.core import compat; from huggingface_hub import constants;"
        "compat.set_download_chunk_size(12345); print(constants.DOWNLOAD_CHUNK_SIZE)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "12345"


def test_transfer_bar_is_named_as_the_library_names_it() -> None:
    from huggingface_hub import _snapshot_download

    assert f'desc="{compat.TRANSFER_BAR_DESC}"' in inspect.getsource(_snapshot_download)
    assert compat.is_transfer_bar("Downloading bytes") and not compat.is_transfer_bar("Reconstructing")


def test_socket_of_a_real_response() -> None:
    from hubfixtures import small_spec

    from hftui.hub import HubServer

    with (
        HubServer(small_spec()) as server,
        httpx2.Client() as client,
        client.stream("GET", f"{server.endpoint}/api/models/none/none") as response,
    ):
        sock = compat.socket_of(response)
        assert sock is not None and sock.fileno() >= 0
    assert compat.socket_of(httpx2.Response(200)) is None


def test_local_dir_metadata_is_where_the_library_writes_it(tmp_path: Path) -> None:
    from huggingface_hub._local_folder import get_local_download_paths

    paths = get_local_download_paths(tmp_path, "sub/a.bin")
    assert paths.metadata_path == compat.local_dir_metadata_path(tmp_path, "sub/a.bin")
    paths.metadata_path.write_text("c0mmit\netag\n100.0\n")
    assert compat.read_local_dir_metadata(tmp_path, "sub/a.bin", 100.5) == ("c0mmit", "etag")
    assert compat.read_local_dir_metadata(tmp_path, "sub/a.bin", 200.0) is None  # changed since
    assert compat.read_local_dir_metadata(tmp_path, "other.bin", 1.0) is None


def test_textual_tree_internals_exist() -> None:
    from textual.widgets import Tree

    tree: Tree[None] = Tree("root")
    assert hasattr(tree, "_line_cache") and callable(tree._line_cache.clear)
    assert callable(Tree._invalidate)


def test_textual_data_table_internals_exist() -> None:
    """What `CellWidthTable` overrides or reads: a rename in an upgrade fails here, not on screen."""
    import inspect as _inspect

    from textual.widgets import DataTable

    for name in (
        "_clear_caches",
        "_render_cell",
        "_get_row_region",
        "_update_dimensions",
        "_update_column_widths",
    ):
        assert callable(getattr(DataTable, name)), name
    assert list(_inspect.signature(DataTable._render_cell).parameters) == [
        "self",
        "row_index",
        "column_index",
        "base_style",
        "width",
        "cursor",
        "hover",
    ]
    table: DataTable[str] = DataTable()
    for name in (
        "_row_locations",
        "_column_locations",
        "_data",
        "_y_offsets",
        "_update_count",
        "_require_update_dimensions",
        "_new_rows",
        "_row_label_column_width",
        "_total_row_height",
        "_show_hover_cursor",
    ):
        assert hasattr(table, name), name


@pytest.mark.parametrize("module", ["hftui.core.compat"])
def test_compat_import_is_cheap(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith(('huggingface_hub', 'textual'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_multiprocessing_helpers_have_the_stop_methods_the_scanner_calls() -> None:
    from multiprocessing import forkserver, resource_tracker

    assert callable(forkserver._forkserver._stop)
    assert callable(resource_tracker._resource_tracker._stop)
