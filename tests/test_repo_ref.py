"""parse_repo_input: every accepted form and every bad input of issue #5."""

from __future__ import annotations

import pytest
from huggingface_hub.utils import filter_repo_objects

from hftui.core.hub.repo_ref import RepoRef, RepoRefError, parse_repo_input, quant_patterns

EP = "http://127.0.0.1:8765"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("org/name", RepoRef("org/name")),
        ("  org/name  ", RepoRef("org/name")),
        ("models/org/name", RepoRef("org/name", "model")),
        ("datasets/org/name", RepoRef("org/name", "dataset")),
        ("spaces/org/name", RepoRef("org/name", "space")),
        ("gpt2", RepoRef("gpt2")),
        ("org/name@v1.0", RepoRef("org/name", revision="v1.0")),
        ("org/name@refs/pr/1", RepoRef("org/name", revision="refs/pr/1")),
        ("org/name:Q4_K_M", RepoRef("org/name", quant="Q4_K_M")),
        ("org/name@main:q8_0", RepoRef("org/name", revision="main", quant="q8_0")),
        ("https://huggingface.co/org/name", RepoRef("org/name")),
        ("https://huggingface.co/org/name/", RepoRef("org/name")),
        ("https://huggingface.co/gpt2", RepoRef("gpt2")),
        ("https://huggingface.co/org/name?x=1#readme", RepoRef("org/name")),
        ("https://huggingface.co/org/name/tree/main", RepoRef("org/name", revision="main")),
        (
            "https://huggingface.co/org/name/tree/main/sub/dir",
            RepoRef("org/name", revision="main", path="sub/dir"),
        ),
        (
            "https://huggingface.co/org/name/blob/v1.0/sub/a.json",
            RepoRef("org/name", revision="v1.0", path="sub/a.json", path_is_file=True),
        ),
        (
            "https://huggingface.co/org/name/resolve/main/model.safetensors",
            RepoRef("org/name", revision="main", path="model.safetensors", path_is_file=True),
        ),
        ("https://huggingface.co/org/name/tree/refs%2Fpr%2F1", RepoRef("org/name", revision="refs/pr/1")),
        (
            "https://huggingface.co/org/name/tree/feature%2Fx/a",
            RepoRef("org/name", revision="feature/x", path="a"),
        ),
        ("https://huggingface.co/datasets/org/name", RepoRef("org/name", "dataset")),
        (
            "https://huggingface.co/datasets/org/name/tree/main/data",
            RepoRef("org/name", "dataset", "main", "data"),
        ),
        ("https://huggingface.co/spaces/org/name", RepoRef("org/name", "space")),
        ("http://huggingface.co/org/name", RepoRef("org/name")),
        ("HTTPS://HuggingFace.co/org/name", RepoRef("org/name")),
        ("huggingface.co/org/name", RepoRef("org/name")),
        ("hf.co/org/name:Q4_K_M", RepoRef("org/name", quant="Q4_K_M")),
        ("https://huggingface.co/datasets/org/name:q8_0", RepoRef("org/name", "dataset", quant="q8_0")),
        (f"{EP}/org/name/tree/main", RepoRef("org/name", revision="main")),
        (f"{EP}/datasets/org/name", RepoRef("org/name", "dataset")),
        ("org/name/tree/main/sub", RepoRef("org/name", revision="main", path="sub")),
        (
            "org/name/commit/" + "a" * 40,
            RepoRef("org/name", revision="a" * 40),
        ),
    ],
)
def test_accepted_forms(text: str, expected: RepoRef) -> None:
    assert parse_repo_input(text, endpoint=EP) == expected


def test_endpoint_with_path_prefix() -> None:
    ref = parse_repo_input(
        "http://mirror.local:8080/hf/org/name/tree/v2", endpoint="http://mirror.local:8080/hf/"
    )
    assert ref == RepoRef("org/name", revision="v2")


def test_default_repo_type_and_explicit_prefix_wins() -> None:
    assert parse_repo_input("org/name", repo_type="dataset").repo_type == "dataset"
    assert parse_repo_input("spaces/org/name", repo_type="dataset").repo_type == "space"
    assert parse_repo_input("https://huggingface.co/org/name", repo_type="dataset").repo_type == "model"


def test_allow_patterns_from_paths() -> None:
    assert parse_repo_input("https://huggingface.co/o/n/tree/main/sub").allow_patterns() == ("sub/*",)
    assert parse_repo_input("https://huggingface.co/o/n/blob/main/a/b.json").allow_patterns() == ("a/b.json",)
    assert parse_repo_input("o/n").allow_patterns() == ()


def test_str_round_trips() -> None:
    for text in ("org/name", "datasets/org/name@v1", "spaces/a/b", "org/name:Q4_K_M"):
        assert str(parse_repo_input(text)) == text
        assert parse_repo_input(str(parse_repo_input(text))) == parse_repo_input(text)


GGUF_FILES = [
    "model-Q4_K_M.gguf",
    "model.q4_k_m.GGUF",
    "Model-Q4_K_M-00001-of-00003.gguf",
    "Model-Q4_K_M-00002-of-00003.gguf",
    "Q4_K_M/model-Q4_K_M-00001-of-00002.gguf",
    "Q4_K_M/model-Q4_K_M-00002-of-00002.gguf",
    "sub/Q4_K_M.gguf",
    "model-Q4_K.gguf",
    "model-Q4_K_S.gguf",
    "model-IQ4_XS.gguf",
    "model-Q4_K_M.gguf.json",
    "README.md",
]


def test_quant_glob_case_insensitive_and_shards() -> None:
    ref = parse_repo_input("org/name:q4_k_m")
    got = list(filter_repo_objects(GGUF_FILES, allow_patterns=list(ref.allow_patterns())))
    assert got == [
        "model-Q4_K_M.gguf",
        "model.q4_k_m.GGUF",
        "Model-Q4_K_M-00001-of-00003.gguf",
        "Model-Q4_K_M-00002-of-00003.gguf",
        "Q4_K_M/model-Q4_K_M-00001-of-00002.gguf",
        "Q4_K_M/model-Q4_K_M-00002-of-00002.gguf",
        "sub/Q4_K_M.gguf",
    ]


def test_quant_glob_does_not_bleed_into_neighbours() -> None:
    assert list(filter_repo_objects(GGUF_FILES, allow_patterns=list(quant_patterns("Q4_K")))) == [
        "model-Q4_K.gguf"
    ]
    assert list(filter_repo_objects(GGUF_FILES, allow_patterns=list(quant_patterns("Q4_XS")))) == []
    assert list(filter_repo_objects(GGUF_FILES, allow_patterns=list(quant_patterns("iq4_xs")))) == [
        "model-IQ4_XS.gguf"
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "Type a repo"),
        ("   ", "Type a repo"),
        ("a/b/c", "Too many '/'"),
        ("../x", "'..' is not allowed"),
        ("..", "'..' is not allowed"),
        ("org/..", "'..' is not allowed"),
        ("org/na--me", "'--' is not allowed"),
        ("org/my model", "cannot contain spaces"),
        ("org name", "cannot contain spaces"),
        ("org/na$me", "contains '$'"),
        ("org/café", "contains 'é'"),
        ("org/-name", "cannot start or end"),
        ("org/name.", "cannot start or end"),
        ("org/name.git", ".git"),
        ("org/" + "x" * 97, "longer than 96"),
        ("/org/name", "starts with '/'"),
        ("org//name", "Empty path segment"),
        ("datasets", "names no repo"),
        ("datasets/", "names no repo"),
        ("org/name:", "Nothing after ':'"),
        ("org/name:Q4-K", "not a quantization"),
        ("org/name@", "Nothing after '@'"),
        ("https://example.com/org/name", "not a Hugging Face Hub host"),
        ("https://huggingface.co/", "names no repo"),
        ("https://huggingface.co", "names no repo"),
        ("https://huggingface.co/datasets", "names no repo"),
        ("https://huggingface.co/org/name/tree", "revision is missing"),
        ("https://huggingface.co/org/name/blob/main", "needs a file path"),
        ("https://huggingface.co/org/name/foo/bar", "Unexpected 'foo'"),
        ("https://huggingface.co/org/name/tree/main/../x", "'..' are not allowed"),
        ("https://huggingface.co/api/models/org/name", "API URL"),
        ("ftp://huggingface.co/org/name", "Only http(s)"),
        ("https://", "has no host"),
        ("http://[::1/org/name", "Malformed URL"),
        (f"{EP}/org/name", "not a Hugging Face Hub host"),  # no endpoint configured
    ],
)
def test_bad_inputs_have_specific_messages(text: str, fragment: str) -> None:
    with pytest.raises(RepoRefError) as info:
        parse_repo_input(text)
    assert fragment in str(info.value)
    assert "Traceback" not in str(info.value)


def test_other_host_message_names_configured_endpoint() -> None:
    with pytest.raises(RepoRefError, match=r"127\.0\.0\.1:8765"):
        parse_repo_input("https://example.com/org/name", endpoint=EP)


def test_unknown_default_type() -> None:
    with pytest.raises(RepoRefError, match="Unknown repo type"):
        parse_repo_input("org/name", repo_type="kernelz")


@pytest.mark.parametrize(
    "repo_id",
    [
        "org/name",
        "gpt2",
        "a/b/c",
        "../x",
        "..",
        "org/na--me",
        "org/my model",
        "org/name.git",
        "-a/b",
        "a/b.",
        "org/café",
        "x" * 97,
        "org/" + "y" * 96,
        "a_b/C.d-e",
        "",
    ],
)
def test_id_rules_agree_with_huggingface_hub(repo_id: str) -> None:
    """repo_ref does not import huggingface_hub (it runs on the event loop); its rules must match the library's."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    from hftui.core.hub.repo_ref import validate_id

    try:
        validate_repo_id(repo_id)
        theirs = True
    except HFValidationError:
        theirs = False
    try:
        validate_id(repo_id)
        ours = True
    except RepoRefError:
        ours = False
    assert ours == theirs, repo_id


def test_parsing_never_imports_huggingface_hub() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from hftui.core.hub.repo_ref import parse_repo_input; parse_repo_input('org/name:Q4_K_M'); "
        "print('huggingface_hub' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://huggingface.co/o/n/blob/main/a%5B1%5D.txt", ("a[1].txt", "a1.txt")),
        ("https://huggingface.co/o/n/tree/main/x%5B1%5D", ("x[1]/w.bin", "x1/w.bin")),
        ("https://huggingface.co/o/n/blob/main/what%3F.md", ("what?.md", "whatX.md")),
    ],
)
def test_paths_with_glob_characters_select_exactly_that_path(url: str, expected: tuple[str, str]) -> None:
    wanted, neighbour = expected
    globs = list(parse_repo_input(url).allow_patterns())
    assert list(filter_repo_objects([wanted, neighbour], allow_patterns=globs)) == [wanted]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://huggingface.co/datasets/o/n/viewer/default/train", RepoRef("o/n", "dataset")),
        ("https://huggingface.co/o/n/discussions/3", RepoRef("o/n")),
        ("https://huggingface.co/o/n/commits/v1.0", RepoRef("o/n", revision="v1.0")),
        ("https://huggingface.co/o/n/commits", RepoRef("o/n")),
        (
            "https://huggingface.co/o/n/blame/main/a.py",
            RepoRef("o/n", revision="main", path="a.py", path_is_file=True),
        ),
    ],
)
def test_other_repo_pages_pasted_from_the_browser(url: str, expected: RepoRef) -> None:
    assert parse_repo_input(url) == expected
