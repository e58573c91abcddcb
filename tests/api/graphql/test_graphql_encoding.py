"""GraphQL answers are encoded with orjson (app/web.py `GraphQLApp.encode_json`), and text
orjson refuses still gets a JSON answer."""

from __future__ import annotations

import json

from app.db.engine import Database
from app.web import encode_json
from tests.support import client_for, make_world


def test_text_orjson_refuses_is_escaped_by_json_instead() -> None:
    assert encode_json({"a": "\ud800", "b": 1}) == '{"a":"\\ud800","b":1}'
    assert json.loads(encode_json({"a": "\ud800"})) == {"a": "\ud800"}
    assert encode_json({"a": "é"}) == '{"a":"é"}'


async def test_answers_are_compact_utf8_json(db: Database) -> None:
    world = await make_world(db)
    async with client_for(db) as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ viewer { name } }"},
            headers={"Authorization": f"Bearer {world.ada_token}"},
        )
    assert response.status_code == 200
    assert response.content == b'{"data":{"viewer":{"name":"Ada Obi"}}}'
