"""The language switch: remembered on the user's profile, applied on every later request and device."""

import re

from django.conf import settings

LANG = "/accounts/language/"


def html_lang(response) -> str:
    return re.search(r'<html lang="([^"]+)">', response.content.decode()).group(1)


def test_it_switches_to_chinese_and_remembers_it_on_the_profile(new_client, member, project):
    client = new_client(member)
    assert html_lang(client.get("/projects/")) == "en"
    response = client.post(LANG, {"language": "zh-hans", "next": "/projects/"})
    assert response.status_code == 302
    assert response["Location"] == "/projects/"
    member.profile.refresh_from_db()
    assert member.profile.language == "zh-hans"
    page = client.get("/projects/")
    assert html_lang(page) == "zh-hans"
    assert page["Content-Language"] == "zh-hans"
    # Translated text, not only the attribute ("Password" in the top bar).
    assert "密码" in page.content.decode()
    # Another device, without the cookie: the profile decides.
    assert html_lang(new_client(member).get("/projects/")) == "zh-hans"


def test_it_switches_back_to_english(new_client, member, project):
    member.profile.language = "zh-hans"
    member.profile.save()
    client = new_client(member)
    assert html_lang(client.get("/projects/")) == "zh-hans"
    client.post(LANG, {"language": "en", "next": "/projects/"})
    member.profile.refresh_from_db()
    assert member.profile.language == "en"
    assert html_lang(client.get("/projects/")) == "en"


def test_it_offers_the_other_language_in_the_top_bar(new_client, member, project):
    client = new_client(member)
    html = client.get("/projects/").content.decode()
    assert 'name="language" value="zh-hans"' in html and "简体中文" in html
    client.post(LANG, {"language": "zh-hans"})
    html = client.get("/projects/").content.decode()
    assert 'name="language" value="en"' in html


def test_it_ignores_an_unknown_language(new_client, member):
    client = new_client(member)
    response = client.post(LANG, {"language": "fr", "next": "/projects/"})
    assert response.status_code == 302
    member.profile.refresh_from_db()
    assert member.profile.language == "en"
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_it_never_redirects_off_site(new_client, member):
    response = new_client(member).post(LANG, {"language": "en", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_it_rejects_get(new_client, member):
    assert new_client(member).get(LANG, {"language": "zh-hans"}).status_code == 405


def test_it_lets_an_anonymous_visitor_pick_a_language_that_follows_them_into_the_profile(client, member, password):
    response = client.post(LANG, {"language": "zh-hans", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert html_lang(client.get("/accounts/login/")) == "zh-hans"
    client.post("/accounts/login/", {"username": "mia", "password": password})
    member.profile.refresh_from_db()
    assert member.profile.language == "zh-hans"
