"""Bad config files: each is refused with a ConfigError naming the file and the problem.

Every file in ``tests/configs/bad/`` starts with ``# expect: <fragment>``: the fragment must
appear in the error's first line. Files that cannot be committed (huge, a directory, a FIFO,
unreadable) are made in ``tmp_path``.
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.config import LoadedConfig, load_config
from orchestrator.config.source import MAX_CONFIG_BYTES
from orchestrator.errors import ConfigError

CORPUS = Path(__file__).parents[1] / "configs" / "bad"
CORPUS_FILES = sorted(CORPUS.glob("*.yaml"))
EXPECT = b"# expect: "
VAULT = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg"
    "/providers/Microsoft.RecoveryServices/vaults/v1"
)


def expected_fragment(path: Path) -> str:
    first_line = path.read_bytes().split(b"\n", 1)[0]
    assert first_line.startswith(EXPECT), f"{path.name} lacks its '# expect: ' first line"
    return first_line.removeprefix(EXPECT).decode("ascii")


def refusal(path: Path | str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value


def test_the_corpus_holds_at_least_thirty_bad_configs() -> None:
    assert len(CORPUS_FILES) >= 30


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda path: path.stem)
def test_a_bad_config_is_refused_naming_the_file_and_problem(path: Path) -> None:
    first_line = str(refusal(path)).splitlines()[0]
    assert first_line.startswith(f"{path}: ")
    assert expected_fragment(path) in first_line


def test_a_file_over_one_mebibyte_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    # Unparseable on purpose: were it parsed, the error would be a YAML one.
    path.write_bytes(b"action: [" + b"x" * MAX_CONFIG_BYTES)
    assert "is larger than 1 MiB" in str(refusal(path))


def test_a_file_of_exactly_one_mebibyte_is_read(tmp_path: Path) -> None:
    path = tmp_path / "padded.yaml"
    body = f"action: disable\nvaults: [{VAULT}]\n".encode()
    path.write_bytes(body + b"#" * (MAX_CONFIG_BYTES - len(body)))
    assert isinstance(load_config(path), LoadedConfig)


def test_a_zero_byte_file_is_refused_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.touch()
    assert (
        str(refusal(path)) == f"{path}: the file is empty: it needs at least `action` and a target"
    )


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    assert str(refusal(path)) == f"{path}: no such file"


def test_a_path_through_a_regular_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").touch()
    path = tmp_path / "file" / "fleet.yaml"
    assert str(refusal(path)).startswith(f"{path}: cannot open the file: ")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert str(refusal(tmp_path)) == f"{tmp_path}: is a directory, not a config file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "fifo.yaml"
    os.mkfifo(path)
    assert "is not a regular file" in str(refusal(path))


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    # root reads a chmod-000 file regardless; /proc/self/mem is a regular file whose read
    # fails for everyone (address 0 is never mapped).
    if os.name == "posix" and os.geteuid() != 0:
        path = tmp_path / "locked.yaml"
        path.write_text("action: disable\n", encoding="utf-8")
        path.chmod(0)
    elif Path("/proc/self/mem").exists():
        path = Path("/proc/self/mem")
    else:
        pytest.skip("no way to make an unreadable file here")
    assert "cannot" in str(refusal(path))


def test_a_path_with_a_nul_byte_is_refused() -> None:
    assert "cannot open the file" in str(refusal("fleet\0.yaml"))


# --- whatever the input, a LoadedConfig or a ConfigError -------------------------------------

KEYS = [
    "action", "automation_account", "authentication_type", "cloud", "arm_endpoint",
    "token_audience", "api_version", "credential", "managed_identity_client_id", "limits",
    "timeout_minutes", "lock_file", "vaults", "subscriptions", "emulator", "id", "calls",
    "per_seconds", "scope", "set", "get", "seed", "shares", "exclude", "resource_groups",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["enable", "disable", "keep", "all", VAULT, VAULT.upper(), "http://127.0.0.1"]),
    st.text(max_size=20),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=20,
)
CONFIG_LIKE = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=8)
YAML_TOKENS = st.lists(
    st.sampled_from(
        [*KEYS, ":", ": ", "\n", "  ", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "<<: ", "!!binary ",
         "!!set ", "!!python/object ", "'", '"', "#", "? ", "|", ">", "---\n", "...", "2021-13-45",
         "yes", "~", ".nan", "0x1F", "1e3", "\t", "%YAML 1.1\n", VAULT, "\\", "\u2028", "\x00"]
    ),
    max_size=30,
).map("".join)  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for every generated example (hypothesis refuses function-scoped fixtures)."""
    return tmp_path_factory.mktemp("fuzz")


def load_text(directory: Path, text: str | bytes) -> None:
    path = directory / "generated.yaml"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    else:
        path.write_bytes(text)
    try:
        result: LoadedConfig | ConfigError = load_config(path)
    except ConfigError as exc:
        result = exc
    # Any other exception escapes and fails the test: that is the property.
    assert isinstance(result, LoadedConfig) or str(result).startswith(f"{path}: ")


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=st.characters(), max_size=200))
def test_any_text_loads_or_is_refused_cleanly(text: str, fuzz_dir: Path) -> None:
    load_text(fuzz_dir, text)


@settings(max_examples=150, deadline=None)
@given(text=YAML_TOKENS)
def test_yaml_like_token_soup_loads_or_is_refused_cleanly(text: str, fuzz_dir: Path) -> None:
    load_text(fuzz_dir, text)


@settings(max_examples=200, deadline=None)
@given(data=CONFIG_LIKE)
def test_config_shaped_yaml_loads_or_is_refused_cleanly(
    data: dict[str, Any], fuzz_dir: Path
) -> None:
    load_text(fuzz_dir, yaml.safe_dump(data, allow_unicode=True))


@settings(max_examples=50, deadline=None)
@given(raw=st.binary(max_size=100), printable=st.text(alphabet=string.printable, max_size=50))
def test_arbitrary_bytes_load_or_are_refused_cleanly(
    raw: bytes, printable: str, fuzz_dir: Path
) -> None:
    load_text(fuzz_dir, printable.encode() + raw)
