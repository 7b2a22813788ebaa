"""The scale bench asks for what the vault holds: every page it requests starts at
a cursor the API accepts, after a name it seeded (a cursor the API refused once
made every page request of the run a 422, counted as errors, not as pages)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bench.pg_scale import PAGE, lua_random
from bench.run import scale_name

from loomal.core.types import decode_name_cursor


def _paths(script: Path) -> list[str]:
    table = re.search(r"local paths = \{(.*?)\}\n", script.read_text(), re.S)
    assert table is not None
    return re.findall(r'"([^"]+)"', table.group(1))


def test_every_page_starts_after_a_seeded_name(tmp_path: Path) -> None:
    script = lua_random(tmp_path / "page.lua", ["loid-a", "loid-b"], 250, page=True)
    seeded = {scale_name(i) for i in range(250)}
    paths = _paths(script)
    assert len(paths) == 250 - PAGE
    for path in paths:
        query = parse_qs(urlsplit(path).query)
        assert query["limit"] == [str(PAGE)]
        assert decode_name_cursor(query["cursor"][0]) in seeded


def test_every_read_names_a_seeded_credential_with_one_of_the_keys(tmp_path: Path) -> None:
    script = lua_random(tmp_path / "read.lua", ["loid-a", "loid-b"], 50, page=False)
    assert _paths(script) == [f"/v0/vault/{scale_name(i)}" for i in range(50)]
    assert 'local keys = {"loid-a", "loid-b"}' in script.read_text()
