"""Path rules: every trick is refused with its own code; valid paths parse in both forms."""

import pytest

from console.storage.paths import (
    PATH_ERROR_MESSAGES,
    ObsPath,
    PathError,
    parse_obs_path,
    validate_key,
    validate_name,
)

REFUSED = [
    ("", "path_empty"),
    ("bucket/a/", "path_form"),
    ("s3://bucket/a/", "path_form"),
    ("http://bucket/a", "path_form"),
    (" obs://bucket/a/", "path_form"),
    ("obs://", "path_no_bucket"),
    ("/", "path_no_bucket"),
    ("obs:///etc/passwd", "path_no_bucket"),
    ("//bucket/a", "path_no_bucket"),
    ("/ab/a", "path_bad_bucket"),
    ("/" + "a" * 64 + "/x", "path_bad_bucket"),
    ("/My-Bucket/x", "path_bad_bucket"),
    ("/bucket_1/x", "path_bad_bucket"),
    ("/-bucket/x", "path_bad_bucket"),
    ("/bucket-/x", "path_bad_bucket"),
    ("/my..bucket/x", "path_bad_bucket"),
    ("/my.-bucket/x", "path_bad_bucket"),
    ("/192.168.1.10/x", "path_bad_bucket"),
    ("/..", "path_bad_bucket"),
    ("/bucket/../other/", "path_escape"),
    ("obs://bucket/a/../../etc/passwd", "path_escape"),
    ("/bucket/a/..", "path_escape"),
    ("/bucket/a/../", "path_escape"),
    ("/bucket/\uff0e\uff0e/x", "path_escape"),  # fullwidth dots fold to ".."
    ("/bucket/\u2025/x", "path_escape"),  # "two dot leader" folds to ".."
    ("/bucket/./a", "path_dot_segment"),
    ("/bucket/a/./", "path_dot_segment"),
    ("/bucket/a\\..\\b", "path_backslash"),
    ("/bucket/a\\b", "path_backslash"),
    ("/bucket\\x/a", "path_backslash"),
    ("/bucket/a\x00.txt", "path_nul"),
    ("/bucket/a\nb", "path_control"),
    ("/bucket/a\tb", "path_control"),
    ("/bucket/a\x7fb", "path_control"),
    ("/bucket/a\x85b", "path_control"),
    ("/bucket/evil\u202egpj.exe", "path_control"),
    ("/bucket/\udcff", "path_encoding"),
    ("/bucket/%2e%2e/x", "path_encoded"),
    ("/bucket/%2E%2E/x", "path_encoded"),
    ("/bucket/a/%2e./x", "path_encoded"),
    ("/bucket/a%2fb", "path_encoded"),
    ("/bucket/a%2Fb", "path_encoded"),
    ("/bucket/a%5cb", "path_encoded"),
    ("/bucket/a%00b", "path_encoded"),
    ("/bucket/a%0ab", "path_encoded"),
    ("/bucket/%252e%252e/x", "path_encoded"),  # double encoding
    ("/bucket/%c0%ae%c0%ae/x", "path_encoded"),  # overlong UTF-8 dot
    ("/bucket/%u002e%u002e/x", "path_encoded"),
    ("/bucket/%ef%bc%8e%ef%bc%8e/x", "path_encoded"),  # encoded fullwidth dots
    ("/bucket//etc/passwd", "path_double_slash"),
    ("obs://bucket//a", "path_double_slash"),
    ("/bucket/a//b/", "path_double_slash"),
    ("/bucket/a/b//", "path_double_slash"),
    ("/bucket/a\uff0fb", "path_lookalike"),  # fullwidth solidus
    ("/bucket/" + "a" * 1025, "path_too_long"),
    ("/bucket/" + "\u4e2d" * 342, "path_too_long"),  # 1026 UTF-8 bytes
]


@pytest.mark.parametrize(("text", "code"), REFUSED)
def test_it_refuses_each_trick_with_its_code(text, code):
    with pytest.raises(PathError) as caught:
        parse_obs_path(text)
    assert caught.value.code == code
    assert caught.value.message == str(caught.value)
    assert caught.value.message  # English text naming the rule


def test_it_has_a_message_for_every_code():
    for code in {code for _, code in REFUSED}:
        assert code in PATH_ERROR_MESSAGES


def test_it_is_a_value_error():
    with pytest.raises(ValueError):
        parse_obs_path("/bucket/../x")


def test_it_names_the_bucket_rule_in_the_message():
    with pytest.raises(PathError) as caught:
        parse_obs_path("/Bad_Bucket/x")
    assert "Bad_Bucket" in caught.value.message
    assert "3 to 63 characters" in caught.value.message
    assert caught.value.params == {"bucket": "Bad_Bucket"}


def test_it_names_the_sequence_in_encoded_refusals():
    with pytest.raises(PathError) as caught:
        parse_obs_path("/bucket/a%2fb")
    assert "%2f" in caught.value.message


VALID = [
    (
        "/cnnorth4-job-test-v2/pytorch/fast_example/data/",
        "cnnorth4-job-test-v2",
        "pytorch/fast_example/data/",
    ),
    (
        "obs://cnnorth4-job-test-v2/pytorch/fast_example/code/cpu",
        "cnnorth4-job-test-v2",
        "pytorch/fast_example/code/cpu",
    ),
    (
        "/cnnorth4-job-test-v2/pytorch/fast_example/code/cpu/test-pytorch.py",
        "cnnorth4-job-test-v2",
        "pytorch/fast_example/code/cpu/test-pytorch.py",
    ),
    ("OBS://models/qwen/", "models", "qwen/"),
    ("obs://models", "models", ""),
    ("obs://models/", "models", ""),
    ("/models", "models", ""),
    ("/models/", "models", ""),
    ("/abc/a b/c.d", "abc", "a b/c.d"),
    ("/a.b-c/x", "a.b-c", "x"),
    ("/" + "a" * 63 + "/x", "a" * 63, "x"),
    ("/bucket/...", "bucket", "..."),
    ("/bucket/.hidden/..config", "bucket", ".hidden/..config"),
    ("/bucket/模型/权重/", "bucket", "模型/权重/"),
    ("/bucket/a%20b", "bucket", "a%20b"),  # %20 is only a space: kept literally
    ("/bucket/100%", "bucket", "100%"),
    # At most 1024 bytes in all, each name at most 255 (a local filesystem's NAME_MAX).
    ("/bucket/" + ("a" * 255 + "/") * 4, "bucket", ("a" * 255 + "/") * 4),
]


@pytest.mark.parametrize(("text", "bucket", "key"), VALID)
def test_it_parses_valid_paths(text, bucket, key):
    path = parse_obs_path(text)
    assert (path.bucket, path.key) == (bucket, key)


def test_it_parses_both_forms_to_the_same_path():
    ui = parse_obs_path("obs://cnnorth4-job-test-v2/pytorch/fast_example/data/")
    api = parse_obs_path("/cnnorth4-job-test-v2/pytorch/fast_example/data/")
    assert ui == api
    assert api.uri == "obs://cnnorth4-job-test-v2/pytorch/fast_example/data/"
    assert ui.api == "/cnnorth4-job-test-v2/pytorch/fast_example/data/"
    assert parse_obs_path(ui.api) == parse_obs_path(api.uri) == ui


def test_it_tells_folders_from_files():
    assert parse_obs_path("/bucket/").is_folder
    assert parse_obs_path("/bucket/a/").is_folder
    assert not parse_obs_path("/bucket/a").is_folder
    assert parse_obs_path("/bucket/a/b.txt").name == "b.txt"
    assert parse_obs_path("/bucket/a/b/").name == "b"


def test_it_walks_up_with_parent():
    path = parse_obs_path("obs://bucket/a/b/c.txt")
    assert path.parent == ObsPath("bucket", "a/b/")
    assert path.parent.parent == ObsPath("bucket", "a/")
    assert path.parent.parent.parent == ObsPath("bucket", "")
    assert ObsPath("bucket").parent == ObsPath("bucket")


def test_it_builds_children():
    root = ObsPath("bucket")
    assert root.child("a/").child("b.txt") == ObsPath("bucket", "a/b.txt")
    assert str(root.child("a/")) == "obs://bucket/a/"


@pytest.mark.parametrize("name", ["", "/", "a/b", "../", "..", ".", "a//", "x\\y", "a\x00"])
def test_it_refuses_bad_child_names(name):
    with pytest.raises(PathError):
        ObsPath("bucket", "a/").child(name)


def test_it_refuses_a_child_of_a_file():
    with pytest.raises(PathError) as caught:
        ObsPath("bucket", "a.txt").child("b")
    assert caught.value.code == "path_not_folder"


def test_it_validates_paths_built_directly():
    with pytest.raises(PathError) as caught:
        ObsPath("bucket", "a/../../b")
    assert caught.value.code == "path_escape"
    with pytest.raises(PathError) as caught:
        ObsPath("BUCKET", "a")
    assert caught.value.code == "path_bad_bucket"


def test_it_refuses_leading_slash_keys():
    with pytest.raises(PathError) as caught:
        validate_key("/etc/passwd")
    assert caught.value.code == "path_double_slash"


def test_it_is_hashable_and_frozen():
    path = ObsPath("bucket", "a/")
    assert {path: 1}[ObsPath("bucket", "a/")] == 1
    with pytest.raises(AttributeError):
        path.key = "b/"


@pytest.mark.parametrize(
    "text",
    ["obs://bucket/" + "a" * 300 + "/", "/bucket/models/" + "a" * 256 + ".bin", "obs://bucket/" + "é" * 128 + "/x"],
)
def test_a_name_over_255_bytes_is_refused_with_the_rule(text):
    # A local bucket answered ENAMETOOLONG (a 500 on every page) for these; S3 keys must mean the same.
    with pytest.raises(PathError) as caught:
        parse_obs_path(text)
    assert caught.value.code == "path_name_too_long"
    assert "a file or folder name may have at most 255 bytes (UTF-8)" in caught.value.message
    assert len(caught.value.message) < 250  # the name is shortened in the message


def test_a_name_of_255_bytes_is_fine():
    assert parse_obs_path("obs://bucket/" + "é" * 127 + "a/").key == "é" * 127 + "a/"
    with pytest.raises(PathError) as caught:
        validate_name("b" * 256)
    assert caught.value.code == "path_name_too_long"
