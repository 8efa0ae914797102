"""Users do not know the word "seed" (the documentation this console was built from): no page says it.

Every page the console serves (tests/foundation/page_walk.py: from Django's URL resolver,
with the fuzz test's fixture project) is rendered in English, and the text a reader sees
(text nodes, titles, placeholders, labels) must not contain the word; nor may the API's
published description (its documentation page shows it).
"""

from __future__ import annotations

import json
import re

from tests.api.conftest import _local_identity, token_body  # noqa: F401 — used by the fuzz fixtures
from tests.foundation.page_walk import enrich, render_every_page, visible_text
from tests.foundation.test_fuzz_urls import world  # noqa: F401 — registered as a fixture here
from tests.mymodels.fixtures import catalog  # noqa: F401 — registered as a fixture here
from tests.training.conftest import (  # noqa: F401 — registered as fixtures here
    _fast_training,
    bucket_name,
    bucket_root,
    default_pool,
    examples_in_bucket,
    flavors,
    storage_project,
)

SEED = re.compile(r"\bseeds?\b", re.I)


def test_the_check_finds_the_word_where_a_reader_sees_it():
    texts, attributes = visible_text(
        '<p>From the seed table</p><input placeholder="Seed value"><script>var seed = 1;</script>'
        '<code>seed</code><p class="mono">seed</p><a href="/seed/" data-seed="1">ok</a>'
    )
    assert [t for t in texts + attributes if SEED.search(t)] == ["From the seed table", "Seed value"]


def test_no_english_page_says_seed(world):
    enrich(world)
    pages, skipped = render_every_page(world, language="en")
    assert len(pages) >= 40, f"only {len(pages)} pages rendered: {skipped}"
    found = sorted(
        {f"{page.url}: {text[:160]!r}" for page in pages for text in page.texts + page.attributes if SEED.search(text)}
    )
    assert not found, "pages that say “seed”:\n" + "\n".join(found)


def test_the_api_description_does_not_say_seed():
    from console.api.api import api

    schema = json.dumps(api.get_openapi_schema(), ensure_ascii=False)
    assert not SEED.findall(schema), [m.group(0) for m in re.finditer(r".{80}\bseed.{40}", schema, re.I)]
