"""The front door: pages stay Django's; /nb/<id>/ reaches the Jupyter server only through the console's session."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import PASSWORD
from tests.frontdoor.conftest import BASE_URL, run_async

pytestmark = pytest.mark.integration


def signed_in(base: str, username: str) -> httpx.Client:
    """A client signed in through the real sign-in form, as a browser would be."""
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    page = client.get("/accounts/login/")
    csrf = client.cookies["csrftoken"]
    answer = client.post(
        "/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{base}/accounts/login/", "Origin": base},
    )
    assert page.status_code == 200 and answer.status_code == 302, answer.text[:500]
    return client


def test_pages_are_still_djangos(front_door):
    answer = httpx.get(f"{front_door}/accounts/login/")
    assert answer.status_code == 200 and "csrfmiddlewaretoken" in answer.text


def test_without_a_session_the_notebook_sends_to_the_sign_in_page(front_door):
    answer = httpx.get(f"{front_door}{BASE_URL}lab", follow_redirects=False)
    assert answer.status_code == 302
    assert answer.headers["location"].startswith("/accounts/login/?next=") and "lab" in answer.headers["location"]


def test_the_owner_reaches_jupyter_and_never_sees_its_token(front_door, member, jupyter_server):
    client = signed_in(front_door, member.username)
    status = client.get(f"{BASE_URL}api/status")
    assert status.status_code == 200 and "started" in status.json()
    lab = client.get(f"{BASE_URL}lab")
    assert lab.status_code == 200 and "JupyterLab" in lab.text
    assert jupyter_server.token not in lab.text and jupyter_server.token not in str(lab.headers)
    assert jupyter_server.unix_socket not in lab.text


def test_the_console_session_cookie_never_reaches_jupyter(front_door, member):
    client = signed_in(front_door, member.username)
    # Jupyter echoes nothing of cookies; its /api/me answers for the token's identity, not the console user.
    me = client.get(f"{BASE_URL}api/me")
    assert me.status_code == 200
    assert client.cookies["sessionid"] not in me.text


def test_another_user_gets_403(front_door, make_member, project):
    other = make_member(project, "olga")
    client = signed_in(front_door, other.username)
    answer = client.get(f"{BASE_URL}api/status")
    assert answer.status_code == 403 and "Only the owner" in answer.text


def test_an_unknown_notebook_is_404(front_door, member):
    client = signed_in(front_door, member.username)
    answer = client.get(f"/nb/{uuid.uuid4()}/lab")
    assert answer.status_code == 404


def test_a_cross_site_write_is_refused(front_door, member):
    client = signed_in(front_door, member.username)
    before = len(client.get(f"{BASE_URL}api/kernels").json())
    answer = client.post(f"{BASE_URL}api/kernels", json={}, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert len(client.get(f"{BASE_URL}api/kernels").json()) == before  # no kernel was started


async def _execute_through_the_forwarder(base: str, cookies: dict, code: str, *, origin: str) -> str:
    async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=30) as client:
        kernel = (
            await client.post(f"{BASE_URL}api/kernels", json={"name": "python3"}, headers={"Origin": base})
        ).json()
        try:
            url = base.replace("http://", "ws://") + f"{BASE_URL}api/kernels/{kernel['id']}/channels"
            cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
            async with connect(url, additional_headers={"Cookie": cookie, "Origin": origin}, max_size=None) as ws:
                msg_id = uuid.uuid4().hex
                await ws.send(
                    json.dumps(
                        {
                            "header": {"msg_id": msg_id, "username": "t", "session": uuid.uuid4().hex,
                                       "msg_type": "execute_request", "version": "5.3"},
                            "parent_header": {}, "metadata": {}, "channel": "shell",
                            "content": {"code": code, "silent": False, "store_history": False,
                                        "user_expressions": {}, "allow_stdin": False},
                        }
                    )
                )  # fmt: skip
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if message.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    if message["msg_type"] == "stream":
                        return message["content"]["text"]
                    if message["msg_type"] == "error":
                        raise AssertionError(message["content"])
        finally:
            await client.delete(f"{BASE_URL}api/kernels/{kernel['id']}", headers={"Origin": base})


def test_a_kernel_runs_a_cell_over_the_forwarded_websocket(front_door, member):
    client = signed_in(front_door, member.username)
    text = run_async(_execute_through_the_forwarder(front_door, dict(client.cookies), "print(6*7)", origin=front_door))
    assert text.strip() == "42"


async def _open_websocket(base: str, cookies: dict, *, origin: str) -> None:
    url = base.replace("http://", "ws://") + f"{BASE_URL}api/events/subscribe"
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    async with connect(url, additional_headers={"Cookie": cookie, "Origin": origin}):
        pass


def test_a_websocket_from_another_origin_is_refused(front_door, member):
    client = signed_in(front_door, member.username)
    cookies = dict(client.cookies)
    run_async(_open_websocket(front_door, cookies, origin=front_door))  # our own origin: accepted
    with pytest.raises(InvalidStatus) as refused:
        run_async(_open_websocket(front_door, cookies, origin="https://evil.example"))
    assert refused.value.response.status_code == 403


def test_a_websocket_without_a_session_is_refused(front_door):
    with pytest.raises(InvalidStatus) as refused:
        run_async(_open_websocket(front_door, {}, origin=front_door))
    assert refused.value.response.status_code == 403
