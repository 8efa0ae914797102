"""POST /v3/auth/tokens and X-Auth-Token: the seed's IAM token, its lifetime and revocation."""

import hashlib
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from console.accounts import services as account_services
from console.accounts.models import ApiToken, Membership, Role

from .conftest import ApiClient, assert_error, token_body

TOKENS = "/v3/auth/tokens"


def post_token(client, body, **extra):
    return client.post(TOKENS, data=json.dumps(body), content_type="application/json", **extra)


def test_it_issues_a_token_as_the_seed_shows(client, member, project, org):
    response = post_token(client, token_body("mia"))
    assert response.status_code == 201
    token = response["X-Subject-Token"]
    assert len(token) >= 40
    assert response["X-Request-Id"]
    body = response.json()["token"]
    assert body["methods"] == ["password"]
    assert body["user"] == {
        "id": member.profile.user_id_hex,
        "name": "mia",
        "domain": {"id": org.domain_id, "name": "acme"},
    }
    assert body["project"]["id"] == project.project_id
    assert body["project"]["name"] == "vision"
    assert body["roles"] == [{"id": "member", "name": "member"}]
    issued = body["issued_at"]
    expires = body["expires_at"]
    assert issued.endswith("Z") and expires.endswith("Z")
    from datetime import datetime

    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    assert datetime.strptime(expires, fmt) - datetime.strptime(issued, fmt) == timedelta(hours=24)


def test_it_stores_only_the_hash_of_the_token(client, member):
    token = post_token(client, token_body("mia"))["X-Subject-Token"]
    stored = ApiToken.objects.get(user=member)
    assert stored.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(list(ApiToken.objects.values()), default=str)


def test_each_request_gets_a_new_random_token(client, member):
    first = post_token(client, token_body("mia"))["X-Subject-Token"]
    second = post_token(client, token_body("mia"))["X-Subject-Token"]
    assert first != second


@pytest.mark.parametrize(
    "override",
    [
        {"password": "wrong-password"},
        {"domain": "globex"},
    ],
    ids=["wrong-password", "wrong-domain"],
)
def test_it_refuses_wrong_credentials_with_one_message(client, member, override):
    response = post_token(client, token_body("mia", **override))
    assert_error(response, 401, "ModelArts.0111", "user name, password or domain name is incorrect")
    assert "X-Subject-Token" not in response
    assert not ApiToken.objects.exists()


def test_it_refuses_an_unknown_user_like_a_wrong_password(client, db):
    response = post_token(client, token_body("nobody"))
    assert_error(response, 401, "ModelArts.0111")


def test_it_refuses_an_inactive_user(client, member):
    member.is_active = False
    member.save()
    assert_error(post_token(client, token_body("mia")), 401, "ModelArts.0111")


def test_it_refuses_a_project_the_user_is_not_in(client, member, other_project):
    response = post_token(client, token_body("mia", project="secret"))
    assert_error(response, 401, "ModelArts.0113", "scope.project.name", "“secret”")


def test_it_refuses_an_unknown_project_name_the_same_way(client, member):
    assert_error(post_token(client, token_body("mia", project="cn-north-1")), 401, "ModelArts.0113")


def test_a_site_admin_may_scope_to_any_project_of_the_domain(client, site_admin, project):
    response = post_token(client, token_body("root"))
    assert response.status_code == 201
    assert response.json()["token"]["roles"] == [{"id": "admin", "name": "admin"}]


def test_it_refuses_other_methods(client, member):
    response = post_token(client, token_body("mia", methods=("token",)))
    assert_error(response, 400, "ModelArts.0114", '["password"]')


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda b: b["auth"].pop("scope"), "auth.scope: is required"),
        (
            lambda b: b["auth"]["identity"]["password"]["user"].pop("password"),
            "auth.identity.password.user.password: is required",
        ),
        (
            lambda b: b["auth"]["identity"]["password"]["user"].update(name=5),
            "auth.identity.password.user.name: input should be a valid string",
        ),
        (lambda b: b["auth"].update(extra=1), "auth.extra: is not a known field"),
        (
            lambda b: b["auth"]["identity"].update(methods="password"),
            "auth.identity.methods: input should be a valid list",
        ),
    ],
    ids=["no-scope", "no-password", "name-not-string", "unknown-field", "methods-not-list"],
)
def test_it_names_the_field_that_is_wrong(client, member, mutate, fragment):
    body = token_body("mia")
    mutate(body)
    assert_error(post_token(client, body), 400, "ModelArts.0202", fragment)
    assert not ApiToken.objects.exists()


def test_it_refuses_malformed_json_with_the_position(client, member):
    response = client.post(TOKENS, data='{"auth": ', content_type="application/json")
    assert_error(response, 400, "ModelArts.0201", "not valid JSON", "line 1 column 10")


def test_it_refuses_a_body_that_is_not_an_object(client, member):
    response = client.post(TOKENS, data="[1, 2]", content_type="application/json")
    assert_error(response, 400, "ModelArts.0202")


def test_it_refuses_an_empty_body(client, member):
    response = client.post(TOKENS, content_type="application/json")
    assert_error(response, 400, "ModelArts.0202", "is required")


def test_it_refuses_an_oversized_body(client, member):
    body = token_body("mia")
    body["auth"]["identity"]["password"]["user"]["password"] = "x" * (1024 * 1024 + 10)
    response = post_token(client, body)
    assert_error(response, 413, "ModelArts.0203", "larger than")
    assert not ApiToken.objects.exists()


def test_it_locks_out_after_repeated_failures_like_the_sign_in_page(client, member):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert post_token(client, token_body("mia", password="nope")).status_code == 401
    # The attempt that reaches the limit is refused as a lockout already.
    response = post_token(client, token_body("mia", password="nope"))
    assert_error(response, 429, "ModelArts.0112", "15 minutes")
    assert response["Content-Type"].startswith("application/json")
    # While locked, even the right password gets no token.
    response = post_token(client, token_body("mia"))
    assert_error(response, 429, "ModelArts.0112")
    assert not ApiToken.objects.exists()


def test_wrong_domains_count_towards_the_lockout(client, member):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        post_token(client, token_body("mia", domain="globex"))
    assert_error(post_token(client, token_body("mia")), 429, "ModelArts.0112")


def test_a_success_resets_the_failure_count(client, member):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        post_token(client, token_body("mia", password="nope"))
    assert post_token(client, token_body("mia")).status_code == 201
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        post_token(client, token_body("mia", password="nope"))
    assert post_token(client, token_body("mia")).status_code == 201


def test_the_sign_in_page_and_the_api_share_the_lockout(client, member):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "mia", "password": "nope"})
    assert_error(post_token(client, token_body("mia")), 429, "ModelArts.0112")


# --- X-Auth-Token ---------------------------------------------------------------------


def authorizations_path(project):
    return f"/v2/{project.project_id}/authorizations"


def test_a_call_without_a_token_is_refused(anonymous_api, project):
    response = anonymous_api.get(authorizations_path(project))
    assert_error(response, 401, "ModelArts.0101", "X-Auth-Token")


def test_a_wrong_token_is_refused(client, project):
    response = ApiClient(client, "not-a-token").get(authorizations_path(project))
    assert_error(response, 401, "ModelArts.0102")


def test_an_expired_token_is_refused(api_as, project_admin, project):
    api = api_as(project_admin, project)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(api.get(authorizations_path(project)), 401, "ModelArts.0103", "expired")


def test_a_token_dies_when_the_password_changes(api_as, project_admin, project):
    api = api_as(project_admin, project)
    assert api.get(authorizations_path(project)).status_code == 200
    account_services.password_changed(user=project_admin, keep_session_key=None)
    assert_error(api.get(authorizations_path(project)), 401, "ModelArts.0104", "revoked")


def test_a_token_dies_when_the_user_is_deactivated(api_as, project_admin, project, site_admin):
    api = api_as(project_admin, project)
    account_services.user_set_active(actor=site_admin, user=project_admin, active=False)
    assert ApiToken.objects.get(user=project_admin).revoked_at is not None
    assert_error(api.get(authorizations_path(project)), 401, "ModelArts.0104")


def test_a_token_dies_when_an_administrator_resets_the_password(api_as, project_admin, project, site_admin):
    api = api_as(project_admin, project)
    account_services.user_reset_password(actor=site_admin, user=project_admin)
    assert_error(api.get(authorizations_path(project)), 401, "ModelArts.0104")


def test_a_token_is_bound_to_its_project(api_as, project_admin, project, other_project):
    Membership.objects.create(project=other_project, user=project_admin, role=Role.ADMIN)
    api = api_as(project_admin, project)
    response = api.get(authorizations_path(other_project))
    assert_error(response, 403, "ModelArts.0105", "scoped to another project")
    # An id that does not exist gets the very same answer: ids don't leak.
    other = assert_error(api.get("/v2/" + "0" * 32 + "/authorizations"), 403, "ModelArts.0105")
    assert other["error_msg"] == response.json()["error_msg"]


def test_leaving_the_project_takes_effect_at_once(api_as, project_admin, project, org):
    api = api_as(project_admin, project)
    Membership.objects.filter(user=project_admin).delete()
    assert_error(api.get(authorizations_path(project)), 403, "ModelArts.0106")


def test_every_response_has_a_request_id(anonymous_api, project):
    response = anonymous_api.get(authorizations_path(project), headers={"X-Request-Id": "trace-123"})
    assert response["X-Request-Id"] == "trace-123"


def test_an_unknown_api_path_answers_json(anonymous_api):
    assert_error(anonymous_api.get("/v2/abc/no-such-thing"), 404, "ModelArts.0204", "/v2/abc/no-such-thing")


def test_a_wrong_method_answers_json_with_allow(anonymous_api):
    response = anonymous_api.call("put", TOKENS, {})
    assert_error(response, 405, "ModelArts.0205", "PUT")
    assert "POST" in response["Allow"]


def test_tokens_are_not_sessions(client, member, project):
    post_token(client, token_body("mia"))
    # Getting a token signs nobody in to the browser console.
    assert "_auth_user_id" not in client.session


def test_nul_characters_are_refused_with_their_place(client, member):
    body = token_body("mia\u0000x")
    assert_error(post_token(client, body), 400, "ModelArts.0202", "auth.identity.password.user.name: NUL characters")


def test_nul_characters_in_the_query_are_refused(api_as, project_admin, project):
    api = api_as(project_admin, project)
    response = api.client.get(f"/v2/{project.project_id}/authorizations?sort_by=a%00b", HTTP_X_AUTH_TOKEN=api.token)
    assert_error(response, 400, "ModelArts.0202", "query parameter sort_by: NUL")


def test_long_dead_tokens_are_dropped_when_a_new_one_is_issued(client, member):
    post_token(client, token_body("mia"))
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(days=2))
    post_token(client, token_body("mia"))
    assert ApiToken.objects.filter(user=member).count() == 1
