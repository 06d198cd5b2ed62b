"""Roots beyond the hub cache (docs/roots.md): real layouts written by `datasets` and
`snapshot_download(local_dir=...)` from the local Hub, two hub caches sharing content, bad roots,
an unmounted root, and deletion by the hub cache's safety rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import mounted_tmpfs
from hubfixtures import MODEL, download_into, hub_server  # noqa: F401

from hftui.core.cache.root_delete import execute_root_plan, plan_root_deletion
from hftui.core.cache.roots import Root, check_roots, filesystem_of, resolve_roots
from hftui.core.cache.roots_scan import scan_roots

DAY = 86400.0


def _age(path: Path, seconds: float = 2 * DAY) -> None:
    """Make every file under `path` look untouched for `seconds` (a cache at rest, no live writer)."""
    when = time.time() - seconds
    for folder, dirs, files in os.walk(path):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            os.utime(os.path.join(folder, name), (when, when), follow_symlinks=False)


def _csv_dataset(tmp_path: Path, cache: Path, rows: int = 3) -> Path:
    import datasets

    data = tmp_path / f"data{rows}.csv"
    data.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(rows)))
    datasets.load_dataset("csv", data_files=str(data), cache_dir=str(cache))
    return data


def _scan(*roots: Root, **kwargs):
    return scan_roots(check_roots(roots), **kwargs)


# -- the datasets cache -----------------------------------------------------------------------------


def test_datasets_cache_written_by_datasets(tmp_path: Path) -> None:
    cache = tmp_path / "datasets"
    _csv_dataset(tmp_path, cache, rows=3)
    _csv_dataset(tmp_path, cache, rows=5)
    report = _scan(Root("datasets", str(cache), explicit=True))
    scan = report.scans[0]
    assert not scan.failed and not scan.warnings, scan.warnings
    configs = [e for e in scan.entries if e.kind == "dataset"]
    assert len(configs) == 2  # two data files: two configs of the csv builder
    assert all(e.name.startswith("csv/default-") for e in configs)
    assert sorted(e.detail for e in configs) == [
        "1 prepared version, 3 rows (train)",
        "1 prepared version, 5 rows (train)",
    ]
    for entry in configs:
        on_disk = sum(p.stat().st_size for p in Path(entry.path).rglob("*") if p.is_file())
        assert entry.size == on_disk > 0
        assert "re-prepares it from its data files" in entry.rebuild
    assert scan.size == sum(e.size for e in scan.entries)


def test_datasets_entry_deleted_then_prepared_again(tmp_path: Path) -> None:
    import datasets

    cache = tmp_path / "datasets"
    data = _csv_dataset(tmp_path, cache)
    root = Root("datasets", str(cache), explicit=True)
    entry = next(e for e in _scan(root).scans[0].entries if e.kind == "dataset")

    fresh = plan_root_deletion(root, [entry.path])
    assert any("being written" in why for why in fresh.refused)  # just prepared: a live writer
    _age(cache)
    refused = plan_root_deletion(root, [entry.path], read_only=True)
    assert not refused.can_run and "read-only" in refused.refused[0]

    plan = plan_root_deletion(root, [entry.path])
    assert plan.can_run and plan.size == entry.size
    done = execute_root_plan(plan)
    assert done.deleted == [entry.path] and done.freed == entry.size and not done.problems
    assert not Path(entry.path).exists() and cache.is_dir()
    # (Free space is not compared: other processes write to this disk meanwhile.)
    # What the rebuild note says: load_dataset prepares it again from the data file.
    again = datasets.load_dataset("csv", data_files=str(data), cache_dir=str(cache))
    assert again["train"].num_rows == 3
    assert Path(entry.path).is_dir()


def test_datasets_deletion_checks_the_disk_again(tmp_path: Path) -> None:
    cache = tmp_path / "datasets"
    _csv_dataset(tmp_path, cache)
    _age(cache)
    root = Root("datasets", str(cache), explicit=True)
    entry = next(e for e in _scan(root).scans[0].entries if e.kind == "dataset")
    plan = plan_root_deletion(root, [entry.path])
    assert plan.can_run
    # Another process adds a file after the confirmation: nothing is deleted, a new plan comes back.
    extra = next(Path(entry.path).rglob("dataset_info.json")).with_name("cache-extra.arrow")
    extra.write_bytes(b"x" * 1000)
    os.utime(extra, (time.time() - DAY, time.time() - DAY))
    done = execute_root_plan(plan)
    assert done.changed is not None and not done.deleted
    assert done.changed.size == plan.size + 1000
    assert Path(entry.path).is_dir()


def test_old_datasets_layout_is_a_warning(tmp_path: Path) -> None:
    cache = tmp_path / "datasets"
    _csv_dataset(tmp_path, cache)
    # Layouts no checked datasets version writes (2.13.2 and 5.2.0 write the same one): Arrow files
    # under a folder without the <config>/<version>/<fingerprint> levels, a config without a version.
    old = cache / "glue"
    old.mkdir()
    (old / "glue-train.arrow").write_bytes(b"a" * 2048)
    (old / "dataset_info.json").write_text("{}")
    odd = cache / "squad" / "plain_text" / "latest"
    odd.mkdir(parents=True)
    (odd / "squad-train.arrow").write_bytes(b"b" * 512)
    scan = _scan(Root("datasets", str(cache), explicit=True)).scans[0]
    by_name = {e.name: e for e in scan.entries}
    assert by_name["glue"].size == 2048 + 2 and by_name["glue"].problems
    assert by_name["squad/plain_text"].size == 512 and by_name["squad/plain_text"].problems
    assert sum("older datasets version" in w for w in scan.warnings) == 2
    assert any(n.startswith("csv/default-") and not e.problems for n, e in by_name.items())


def test_datasets_cache_location_matches_the_library(tmp_path: Path) -> None:
    script = "import datasets.config as c; from hftui.core.compat import datasets_cache_dir as d; print(str(c.HF_DATASETS_CACHE) == d())"
    for env in ({"HF_DATASETS_CACHE": str(tmp_path / "x")}, {"HF_HOME": str(tmp_path / "home")}, {}):
        full = {k: v for k, v in os.environ.items() if k not in ("HF_DATASETS_CACHE", "HF_HOME")}
        full.update(env)
        out = subprocess.run(
            [sys.executable, "-c", script], env=full, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "True", (env, out.stderr)


# -- local dirs and duplicates ----------------------------------------------------------------------


def _local_dir(hub, path: Path) -> Path:
    from huggingface_hub import snapshot_download

    snapshot_download(MODEL, endpoint=hub.endpoint, local_dir=str(path), token=False)
    return path


def test_local_dir_statuses_and_duplicates(tmp_path: Path, hub) -> None:
    cache = tmp_path / "hub"
    download_into(cache, hub, MODEL)
    local = _local_dir(hub, tmp_path / "models" / "bert")
    report = _scan(Root("hub", str(cache), explicit=True), Root("local-dir", str(local), explicit=True))
    scan = report.scan_of(str(local))
    assert scan is not None and scan.local_dir is not None
    files = scan.local_dir.files
    assert files and {f.status for f in files} == {"ok"}
    assert scan.local_dir.repo == MODEL  # the metadata's commit, found in the hub cache
    # Every LFS file of the local dir is also a blob of the hub cache: duplicate bytes.
    weights = next(f for f in files if f.path == "model.safetensors")
    group = next(g for g in report.duplicates if g.etag == weights.etag)
    assert group.wasted == weights.size == (local / "model.safetensors").stat().st_size
    assert [c.path for c in group.freeable()] == [str(local / "model.safetensors")]
    assert report.duplicate_bytes == sum(g.wasted for g in report.duplicates) >= weights.size

    # Free the local-dir side: the file and its metadata go, the hub cache keeps its blob.
    _age(local)
    plan = plan_root_deletion(scan.root, [str(local / "model.safetensors")])
    assert plan.can_run and plan.size == weights.size
    done = execute_root_plan(plan)
    assert done.freed == weights.size and not (local / "model.safetensors").exists()
    assert not (local / ".cache/huggingface/download/model.safetensors.metadata").exists()
    after = _scan(Root("hub", str(cache), explicit=True), Root("local-dir", str(local), explicit=True))
    assert not any(g.etag == weights.etag for g in after.duplicates)
    assert after.scan_of(str(local)).local_dir.counts()["missing"] == 0
    assert after.scan_of(str(cache)).size == report.scan_of(str(cache)).size


def test_local_dir_missing_and_modified_files(tmp_path: Path, hub) -> None:
    local = _local_dir(hub, tmp_path / "bert")
    (local / "config.json").unlink()
    readme = local / "README.md"
    readme.write_text(readme.read_text() + "my notes\n")
    os.utime(readme, (time.time() + 5, time.time() + 5))
    scan = _scan(Root("local-dir", str(local), explicit=True)).scans[0]
    statuses = {f.path: f.status for f in scan.local_dir.files}
    assert statuses["config.json"] == "missing" and statuses["README.md"] == "modified"
    assert any("names config.json, which is no longer there" in w for w in scan.warnings)
    assert any("README.md changed after it was downloaded" in w for w in scan.warnings)
    assert "1 modified, 1 missing" in scan.entries[0].detail
    # A modified file is not a duplicate of anything (its etag no longer says what is in it).
    assert statuses["model.safetensors"] == "ok"


def test_find_local_dirs(tmp_path: Path, hub) -> None:
    a = _local_dir(hub, tmp_path / "work" / "a")
    b = _local_dir(hub, tmp_path / "work" / "deep" / "er" / "b")
    (tmp_path / "work" / "plain").mkdir()
    roots = resolve_roots(find_under=[str(tmp_path / "work")], include_defaults=False)
    assert sorted(r.path for r in roots) == sorted([str(a), str(b)])
    assert all(r.kind == "local-dir" for r in roots)


def test_two_hub_caches_sharing_content(tmp_path: Path, hub) -> None:
    personal, shared = tmp_path / "personal", tmp_path / "shared"
    download_into(personal, hub, MODEL)
    download_into(shared, hub, MODEL)
    report = _scan(Root("hub", str(personal), explicit=True), Root("hub", str(shared), explicit=True))
    sizes = [s.size for s in report.scans]
    assert sizes[0] == sizes[1] > 0
    assert report.duplicate_bytes == sizes[0]  # every byte of one cache is in the other
    assert all(g.freeable() == [] for g in report.duplicates)  # a hub blob is never freed alone


# -- bad roots ----------------------------------------------------------------------------------------


def test_bad_roots_are_warnings_and_the_rest_is_scanned(tmp_path: Path) -> None:
    good = tmp_path / "datasets"
    _csv_dataset(tmp_path, good)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    inner = good / "csv"
    roots = [
        Root("datasets", str(good), explicit=True),
        Root("local-dir", str(a_file), explicit=True),
        Root("xet", str(loop), explicit=True),
        Root("local-dir", str(inner), explicit=True),
        Root("local-dir", str(tmp_path / "gone"), explicit=True),
        Root("xet", str(tmp_path / "not-yet")),  # a default root that does not exist: no warning
    ]
    checked = check_roots(roots)
    messages = [p.message for p in checked.problems]
    assert len(messages) == 4, messages
    assert any("is a file" in m for m in messages)
    assert any("symlink loop" in m for m in messages)
    assert any("is inside datasets cache" in m for m in messages)
    assert any("does not exist" in m for m in messages)
    assert [r.path for r in checked.absent] == [str(tmp_path / "not-yet")]
    report = scan_roots(checked)
    assert [s.root.path for s in report.scans] == [str(good)]
    assert report.scans[0].size > 0 and len(report.all_warnings()) == 4


def test_root_removed_mid_scan(tmp_path: Path) -> None:
    import shutil

    first, second = tmp_path / "datasets", tmp_path / "xet"
    _csv_dataset(tmp_path, first)
    (second / "logs").mkdir(parents=True)
    (second / "logs" / "a.log").write_text("x" * 100)
    checked = check_roots(
        [Root("datasets", str(first), explicit=True), Root("xet", str(second), explicit=True)]
    )

    def pull(root: Root) -> None:
        if root.kind == "xet":
            shutil.rmtree(second)

    report = scan_roots(checked, before_each=pull)
    assert report.scans[0].size > 0 and not report.scans[0].failed
    assert "disappeared" in report.scans[1].failed and report.scans[1].size == 0


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path / "mnt", "4m") as point:
        yield point


def test_unmounted_root_is_a_warning(tmp_path: Path, tmpfs: Path) -> None:
    (tmpfs / "logs").mkdir()
    (tmpfs / "logs" / "x.log").write_bytes(b"x" * 4096)
    other = tmp_path / "datasets"
    _csv_dataset(tmp_path, other)
    checked = check_roots(
        [Root("xet", str(tmpfs), explicit=True), Root("datasets", str(other), explicit=True)]
    )
    assert checked.fs[str(tmpfs)].fs_type == "tmpfs"
    subprocess.run(["umount", str(tmpfs)], check=True)  # the share goes away after the roots were found
    report = scan_roots(checked)
    xet = report.scan_of(str(tmpfs))
    assert "no longer on tmpfs" in xet.failed and xet.size == 0
    assert report.scan_of(str(other)).size > 0
    # Deleting in it is refused too (the mount point's own folder is not the root's bytes).
    plan = plan_root_deletion(xet.root, [str(tmpfs / "logs")], fs=checked.fs[str(tmpfs)])
    assert not plan.can_run and "unmounted" in plan.refused[-1]


def test_read_only_filesystem_says_so(tmp_path: Path, tmpfs: Path) -> None:
    (tmpfs / "logs").mkdir()
    (tmpfs / "logs" / "x.log").write_bytes(b"x" * 4096)
    _age(tmpfs)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    checked = check_roots([Root("xet", str(tmpfs), explicit=True)])
    info = checked.fs[str(tmpfs)]
    assert info.read_only and "read-only" in info.describe()
    plan = plan_root_deletion(checked.roots[0], [str(tmpfs / "logs")], fs=info)
    assert not plan.can_run and any("read-only filesystem" in why for why in plan.refused)
    assert (tmpfs / "logs" / "x.log").exists()


def test_nothing_outside_a_root_is_deleted(tmp_path: Path) -> None:
    root_dir = tmp_path / "xet"
    (root_dir / "logs").mkdir(parents=True)
    outside = tmp_path / "precious"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep" / "data").write_text("mine")
    (root_dir / "escape").symlink_to(outside)
    _age(tmp_path)
    root = Root("xet", str(root_dir), explicit=True)
    for path in (str(outside / "keep"), str(root_dir / "escape" / "keep"), str(root_dir)):
        plan = plan_root_deletion(root, [path])
        assert not plan.can_run, path
    # The link itself is inside the root: deleting it removes the link, never what it points at.
    plan = plan_root_deletion(root, [str(root_dir / "escape")])
    assert plan.can_run
    execute_root_plan(plan)
    assert not (root_dir / "escape").exists() and (outside / "keep" / "data").read_text() == "mine"


# -- hftui scan -------------------------------------------------------------------------------------------


def test_scan_cli_lists_every_root(tmp_path: Path, hub) -> None:
    cache = tmp_path / "hub"
    download_into(cache, hub, MODEL)
    local = _local_dir(hub, tmp_path / "models" / "bert")
    datasets_cache = tmp_path / "datasets"
    _csv_dataset(tmp_path, datasets_cache)
    xet = tmp_path / "xet"
    (xet / "logs").mkdir(parents=True)
    (xet / "logs" / "a.log").write_bytes(b"l" * 300)
    flags = [
        "--cache-dir", str(cache), "--find-local-dirs", str(tmp_path / "models"),
        "--datasets-cache", str(datasets_cache), "--xet-cache", str(xet), "--local-dir", str(tmp_path / "nope"),
    ]  # fmt: skip
    env = {**os.environ}
    out = subprocess.run(
        [sys.executable, "-m", "hftui", "scan", "--json", *flags], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    kinds = [(r["kind"], r["path"]) for r in data["roots"]]
    assert kinds == [
        ("hub", str(cache)),
        ("datasets", str(datasets_cache)),
        ("local-dir", str(local)),
        ("xet", str(xet)),
    ]
    by_kind = {r["kind"]: r for r in data["roots"]}
    assert by_kind["xet"]["size_on_disk"] == 300
    assert by_kind["local-dir"]["local_dir"]["repo"] == MODEL
    assert by_kind["hub"]["size_on_disk"] == data["size_on_disk"]
    assert all(r["filesystem"]["free"] > 0 for r in data["roots"])
    assert data["duplicate_bytes"] > 0
    assert [w["message"] for w in data["root_warnings"]] == [
        f"local dir {tmp_path / 'nope'} does not exist (unmounted?)"
    ]

    text = subprocess.run(
        [sys.executable, "-m", "hftui", "scan", *flags], capture_output=True, text=True, env=env
    )
    assert text.returncode == 0, text.stderr
    assert "Roots (4):" in text.stdout and "datasets cache" in text.stdout and "Duplicates:" in text.stdout
    assert "warning: local dir" in text.stderr and "warning:" not in text.stdout  # warnings on stderr
    only_hub = subprocess.run(
        [sys.executable, "-m", "hftui", "scan", "--no-roots", *flags], capture_output=True, text=True, env=env
    )
    assert "Roots" not in only_hub.stdout


def test_settings_name_roots(tmp_path: Path) -> None:
    from hftui.settings import load_settings

    path = tmp_path / "settings.toml"
    path.write_text(
        'cache_dirs = ["~/shared/hub"]\nlocal_dirs = ["/models/x"]\ndatasets_cache = "/d"\nlocal_dir_search = [""]\n'
    )
    loaded = load_settings(path)
    assert loaded.settings.cache_dirs == [os.path.expanduser("~/shared/hub")]
    assert loaded.settings.local_dirs == ["/models/x"] and loaded.settings.datasets_cache == "/d"
    assert loaded.settings.local_dir_search == []
    assert any("local_dir_search must be a list of folder paths" in str(p) for p in loaded.problems)


def test_cache_dir_given_twice_opens_the_first_and_adds_the_others() -> None:
    from hftui.cli import build_parser, check_flags
    from hftui.commands.root_flags import root_overrides
    from hftui.settings import Settings

    args = build_parser().parse_args(
        ["--cache-dir", "/a", "--cache-dir", "/b", "--local-dir", "/m", "--cache-dir", "/c"]
    )
    check_flags(args)
    assert args.cache_dir == "/a"
    changes = root_overrides(args, Settings(cache_dirs=["/s"]))
    assert changes == {"cache_dirs": ["/s", "/b", "/c"], "local_dirs": ["/m"]}
    scan = build_parser().parse_args(["scan", "--cache-dir", "/a", "--cache-dir", "/b"])
    assert scan.cache_dir == "/a" and scan.extra_cache_dirs == ["/b"]


def test_network_filesystems_are_named() -> None:
    from hftui.core.cache.roots import FsInfo

    nfs = FsInfo(1, "/mnt/team", "nfs4", 10, 20, False)
    assert nfs.network and nfs.describe() == "nfs4 on /mnt/team, network filesystem"
    assert not FsInfo(1, "/", "ext4", 10, 20, False).network
    # The filesystem of a real folder comes from /proc/self/mountinfo.
    info = filesystem_of("/proc")
    assert info is not None and info.fs_type == "proc" and info.mount_point == "/proc"


def test_xet_dir_written_by_a_real_xet_download(tmp_path: Path) -> None:
    from hubfixtures import small_spec
    from huggingface_hub import constants

    from hftui.hub import HubServer

    with HubServer(small_spec(xet=True)) as xet_hub:
        download_into(tmp_path / "hub", xet_hub, MODEL)
    xet_dir = Path(constants.HF_XET_CACHE)
    assert xet_dir.is_dir()
    scan = _scan(Root("xet", str(xet_dir), explicit=True)).scans[0]
    assert not scan.failed and scan.entries
    kinds = {e.kind for e in scan.entries}
    assert kinds & {"xet-logs", "xet-staging", "xet-chunk-cache", "xet-shard-cache"}, kinds
    for entry in scan.entries:
        on_disk = sum(p.lstat().st_size for p in Path(entry.path).rglob("*") if not p.is_dir())
        assert entry.size == on_disk
    # hf_xet just wrote its log: deleting it now is refused as a live writer.
    logs = next(e for e in scan.entries if e.kind == "xet-logs")
    plan = plan_root_deletion(scan.root, [logs.path])
    assert not plan.can_run and any("being written" in why for why in plan.refused)


def test_a_whole_local_dir_is_deleted_and_nothing_beside_it(tmp_path: Path, hub) -> None:
    local = _local_dir(hub, tmp_path / "models" / "bert")
    neighbour = tmp_path / "models" / "notes.txt"
    neighbour.write_text("keep")
    _age(tmp_path / "models")
    root = Root("local-dir", str(local), explicit=True)
    entry = _scan(root).scans[0].entries[0]
    plan = plan_root_deletion(root, [str(local)])
    assert plan.can_run and plan.size == entry.size
    done = execute_root_plan(plan)
    assert done.freed == entry.size and not local.exists() and neighbour.read_text() == "keep"


def test_a_mount_inside_an_entry_is_never_deleted(tmp_path: Path, tmpfs: Path) -> None:
    (tmpfs / "other-disk-data").write_bytes(b"x" * 100)
    root = Root("xet", str(tmp_path), explicit=True)  # the tmpfs is mounted at tmp_path/mnt
    _age(tmp_path)
    plan = plan_root_deletion(root, [str(tmpfs)])
    assert not plan.can_run and any("another filesystem" in why for why in plan.refused)
    assert (tmpfs / "other-disk-data").exists()


def test_glance_sums_the_other_roots_and_counts_their_problems(tmp_path: Path, hub) -> None:
    from hftui.core.cache.roots_scan import glance_roots
    from hftui.core.cache.scan import scan_cache

    opened, other = tmp_path / "opened", tmp_path / "other"
    download_into(opened, hub, MODEL)
    download_into(other, hub, MODEL)
    xet = tmp_path / "xet"
    (xet / "logs").mkdir(parents=True)
    (xet / "logs" / "a.log").write_bytes(b"l" * 5000)
    roots = [
        Root("hub", str(opened), "opened"),
        Root("hub", str(other), "cache_dirs", explicit=True),
        Root("hub", str(tmp_path / "unmounted"), "cache_dirs", explicit=True),
        Root("xet", str(xet), "settings", explicit=True),
    ]
    glance = glance_roots(roots, str(opened), scan_cache(opened))
    on_disk = scan_cache(other).size_on_disk + sum(f.stat().st_size for f in (xet / "logs").iterdir())
    # The opened cache is not counted; the other cache and the Xet logs are; the missing root is a problem.
    assert (glance.roots, glance.problems) == (2, 1), glance
    assert glance.size == on_disk, (glance.size, on_disk)
    assert glance.duplicate_bytes > 0  # the other cache holds the same files as the opened one
