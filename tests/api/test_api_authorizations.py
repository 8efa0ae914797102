"""/v2/{project_id}/agency and /authorizations — seed section 管理ModelArts服务的委托授权."""

import pytest

from console.accounts.models import Membership, Role
from console.audit.models import AuditEntry
from console.authorizations.models import Agency, Authorization
from console.storage import gate
from console.storage.services import project_storage_defaults_apply

from .conftest import assert_error


@pytest.fixture
def defaults(project):
    """What a project created through the console starts with: a bucket and all-users → modelarts_agency."""
    project_storage_defaults_apply(project=project, actor=None)
    return project


@pytest.fixture
def admin_api(api_as, project_admin, project, defaults):
    return api_as(project_admin, project)


def agency_path(project):
    return f"/v2/{project.project_id}/agency"


def auth_path(project):
    return f"/v2/{project.project_id}/authorizations"


# --- agency -------------------------------------------------------------------------


def test_it_creates_the_seeds_agency(admin_api, project, project_admin):
    response = admin_api.post(agency_path(project), {"agency_name_suffix": "iam-user01"})
    assert response.status_code == 200
    assert response.json() == {"agency_name": "ma_agency_iam-user01"}
    agency = Agency.objects.get(project=project, name="ma_agency_iam-user01")
    assert agency.all_buckets and agency.can_write
    entry = AuditEntry.objects.get(action="agency.create", object_id=str(agency.pk))
    assert entry.actor == project_admin and entry.project == project


def test_an_empty_suffix_names_the_default_agency(api_as, project_admin, project):
    api = api_as(project_admin, project)  # no defaults: modelarts_agency does not exist yet
    assert api.post(agency_path(project), {"agency_name_suffix": ""}).json() == {"agency_name": "modelarts_agency"}


def test_a_missing_suffix_is_an_empty_one(api_as, project_admin, project):
    api = api_as(project_admin, project)
    assert api.post(agency_path(project), {}).json() == {"agency_name": "modelarts_agency"}


def test_an_existing_agency_is_a_conflict(admin_api, project):
    assert_error(
        admin_api.post(agency_path(project), {"agency_name_suffix": ""}), 409, "ModelArts.2002", "modelarts_agency"
    )
    admin_api.post(agency_path(project), {"agency_name_suffix": "x"})
    assert_error(admin_api.post(agency_path(project), {"agency_name_suffix": "x"}), 409, "ModelArts.2002")
    assert Agency.objects.filter(project=project, name="ma_agency_x").count() == 1


def test_a_suffix_over_50_characters_is_refused(admin_api, project):
    response = admin_api.post(agency_path(project), {"agency_name_suffix": "a" * 51})
    assert_error(response, 400, "ModelArts.0202", "agency_name_suffix", "50")
    assert admin_api.post(agency_path(project), {"agency_name_suffix": "a" * 50}).status_code == 200


def test_a_suffix_with_other_characters_is_refused(admin_api, project):
    response = admin_api.post(agency_path(project), {"agency_name_suffix": "a b/c"})
    assert_error(response, 400, "ModelArts.2001", "letters, digits")
    assert not Agency.objects.filter(name__startswith="ma_agency_a").exists()


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"agency_name_suffix": 5}, "agency_name_suffix: input should be a valid string"),
        ({"agency_name_suffix": "x", "name": "y"}, "name: is not a known field"),
    ],
)
def test_agency_bodies_are_strict(admin_api, project, body, fragment):
    assert_error(admin_api.post(agency_path(project), body), 400, "ModelArts.0202", fragment)


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_only_administrators_create_agencies(api_as, make_member, project, defaults, role):
    api = api_as(make_member(project, "someone", role), project)
    assert_error(api.post(agency_path(project), {"agency_name_suffix": "x"}), 403, "ModelArts.0108")
    assert not Agency.objects.filter(name="ma_agency_x").exists()


def test_a_site_administrator_may_manage_any_project(api_as, site_admin, project, defaults):
    api = api_as(site_admin, project)
    assert api.post(agency_path(project), {"agency_name_suffix": "root"}).status_code == 200


# --- authorizations ------------------------------------------------------------------------


def test_the_seeds_authorization_flow(admin_api, project, member, project_admin):
    """Create agency → authorize a user → list → delete one → delete all-users."""
    assert admin_api.post(agency_path(project), {"agency_name_suffix": "iam-user01"}).status_code == 200
    user_id = member.profile.user_id_hex
    response = admin_api.post(
        auth_path(project), {"user_id": user_id, "type": "agency", "content": "ma_agency_iam-user01"}
    )
    assert response.status_code == 200
    assert response.json() == {"result": True}

    listing = admin_api.get(auth_path(project))
    assert listing.status_code == 200
    body = listing.json()
    assert body["total_count"] == 2
    assert [(a["user_id"], a["user_name"], a["type"], a["content"]) for a in body["auth"]] == [
        ("all-users", "all-users", "agency", "modelarts_agency"),
        (user_id, "mia", "agency", "ma_agency_iam-user01"),
    ]
    assert all(isinstance(a["create_time"], int) and a["create_time"] > 1_600_000_000_000 for a in body["auth"])

    response = admin_api.delete(auth_path(project), user_id=user_id)
    assert response.status_code == 200
    assert response.json() == {"result": True}

    response = admin_api.delete(auth_path(project), user_id="all-users")
    assert response.status_code == 200
    assert response.json() == {"result": True, "success_message": "Delete all-users auth info successfully!"}
    assert admin_api.get(auth_path(project)).json() == {"auth": [], "total_count": 0}

    actions = list(AuditEntry.objects.filter(project=project).values_list("action", flat=True))
    assert actions.count("authorization.delete") == 2
    assert "authorization.create" in actions and "agency.create" in actions


def test_deleting_all_users_takes_effect_at_once_through_the_storage_gate(admin_api, project, member):
    bucket = project.buckets.get()
    gate.storage_for(user=member, project=project, path=f"obs://{bucket.name}/data/")
    admin_api.delete(auth_path(project), user_id="all-users")
    with pytest.raises(gate.StorageDenied) as refused:
        gate.storage_for(user=member, project=project, path=f"obs://{bucket.name}/data/")
    assert "若没有授权" in refused.value.message
    # Authorizing the user alone brings access back, again at once.
    admin_api.post(
        auth_path(project), {"user_id": member.profile.user_id_hex, "type": "agency", "content": "modelarts_agency"}
    )
    gate.storage_for(user=member, project=project, path=f"obs://{bucket.name}/data/")


def test_all_users_can_be_set_again(admin_api, project):
    admin_api.delete(auth_path(project), user_id="all-users")
    response = admin_api.post(
        auth_path(project), {"user_id": "all-users", "type": "agency", "content": "modelarts_agency"}
    )
    assert response.json() == {"result": True}
    assert Authorization.objects.filter(project=project, user__isnull=True).count() == 1


def test_a_new_authorization_replaces_the_users_previous_one(admin_api, project, member):
    admin_api.post(agency_path(project), {"agency_name_suffix": "two"})
    user_id = member.profile.user_id_hex
    admin_api.post(auth_path(project), {"user_id": user_id, "type": "agency", "content": "modelarts_agency"})
    admin_api.post(auth_path(project), {"user_id": user_id, "type": "agency", "content": "ma_agency_two"})
    assert Authorization.objects.get(project=project, user=member).agency.name == "ma_agency_two"


def test_a_credential_secret_is_stored_encrypted_and_never_returned(admin_api, project, member):
    secret = "s3cr3t-SK-value-0123456789"
    response = admin_api.post(
        auth_path(project),
        {"user_id": member.profile.user_id_hex, "type": "credential", "content": "AKIAEXAMPLE", "secret_key": secret},
    )
    assert response.json() == {"result": True}
    stored = Authorization.objects.get(project=project, user=member)
    assert stored.secret_encrypted and secret not in stored.secret_encrypted
    assert stored.secret() == secret
    listing = admin_api.get(auth_path(project))
    assert secret not in listing.content.decode()
    assert {"user_name": "mia", "type": "credential", "content": "AKIAEXAMPLE"}.items() <= [
        a for a in listing.json()["auth"] if a["user_name"] == "mia"
    ][0].items()
    entry = AuditEntry.objects.filter(action="authorization.create").last()
    assert secret not in str(entry.after)


@pytest.mark.parametrize(
    "body, status, code, fragment",
    [
        ({"user_id": "0" * 32, "type": "agency", "content": "modelarts_agency"}, 400, "ModelArts.2003", "user_id"),
        ({"user_id": "MEMBER", "type": "agency", "content": "ma_agency_nope"}, 400, "ModelArts.2004", "ma_agency_nope"),
        (
            {"user_id": "MEMBER", "type": "agency", "content": "modelarts_agency", "secret_key": "x"},
            400,
            "ModelArts.2005",
            "secret_key",
        ),
        ({"user_id": "MEMBER", "type": "credential", "content": "AK"}, 400, "ModelArts.2005", "secret_key"),
        (
            {"user_id": "MEMBER", "type": "token", "content": "x"},
            400,
            "ModelArts.0202",
            "type: input should be 'agency' or 'credential'",
        ),
        ({"user_id": "MEMBER", "content": "modelarts_agency"}, 400, "ModelArts.0202", "type: is required"),
        (
            {"user_id": "MEMBER", "type": "agency", "content": "modelarts_agency", "x": 1},
            400,
            "ModelArts.0202",
            "x: is not a known field",
        ),
        (
            {"user_id": 7, "type": "agency", "content": "modelarts_agency"},
            400,
            "ModelArts.0202",
            "user_id: input should be a valid string",
        ),
    ],
    ids=[
        "unknown-user",
        "unknown-agency",
        "secret-for-agency",
        "credential-without-secret",
        "bad-type",
        "no-type",
        "unknown-field",
        "user-id-not-string",
    ],
)
def test_bad_authorizations_are_refused_and_nothing_is_written(
    admin_api, project, member, body, status, code, fragment
):
    if body.get("user_id") == "MEMBER":
        body["user_id"] = member.profile.user_id_hex
    before = list(Authorization.objects.values_list("pk", flat=True))
    assert_error(admin_api.post(auth_path(project), body), status, code, fragment)
    assert list(Authorization.objects.values_list("pk", flat=True)) == before


def test_a_user_of_another_project_cannot_be_authorized(admin_api, project, other_project, make_member):
    stranger = make_member(other_project, "sam")
    body = {"user_id": stranger.profile.user_id_hex, "type": "agency", "content": "modelarts_agency"}
    assert_error(admin_api.post(auth_path(project), body), 400, "ModelArts.2003")


def test_another_projects_agency_is_unknown_here(admin_api, project, other_project):
    Agency.objects.create(project=other_project, name="ma_agency_theirs")
    body = {"user_id": "all-users", "type": "agency", "content": "ma_agency_theirs"}
    assert_error(admin_api.post(auth_path(project), body), 400, "ModelArts.2004")


def test_deleting_a_missing_authorization_is_404(admin_api, project, member):
    assert_error(admin_api.delete(auth_path(project), user_id=member.profile.user_id_hex), 404, "ModelArts.2006")
    assert_error(admin_api.delete(auth_path(project), user_id="nobody"), 404, "ModelArts.2006")


def test_delete_needs_a_user_id(admin_api, project):
    assert_error(admin_api.delete(auth_path(project)), 400, "ModelArts.0202", "query parameter user_id: is required")
    assert Authorization.objects.filter(project=project).count() == 1


def test_a_former_members_authorization_can_still_be_deleted(admin_api, project, member):
    admin_api.post(
        auth_path(project), {"user_id": member.profile.user_id_hex, "type": "agency", "content": "modelarts_agency"}
    )
    Membership.objects.filter(user=member).delete()
    assert admin_api.delete(auth_path(project), user_id=member.profile.user_id_hex).json() == {"result": True}


def test_the_list_sorts_and_pages(admin_api, project, make_member):
    users = [make_member(project, name) for name in ("carol", "alice", "bob")]
    for user in users:
        admin_api.post(
            auth_path(project), {"user_id": user.profile.user_id_hex, "type": "agency", "content": "modelarts_agency"}
        )

    def names(**params):
        body = admin_api.get(auth_path(project), **params).json()
        assert body["total_count"] == 4
        return [a["user_name"] for a in body["auth"]]

    assert names() == ["alice", "all-users", "bob", "carol"]
    assert names(order="desc") == ["carol", "bob", "all-users", "alice"]
    assert names(sort_by="create_time") == ["all-users", "carol", "alice", "bob"]
    assert names(sort_by="create_time", order="desc", limit=2) == ["bob", "alice"]
    assert names(limit=2, offset=3) == ["carol"]
    assert names(offset=10) == []


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"sort_by": "name"}, "query parameter sort_by"),
        ({"order": "up"}, "query parameter order"),
        ({"limit": 0}, "query parameter limit"),
        ({"limit": "ten"}, "query parameter limit"),
        ({"offset": -1}, "query parameter offset"),
    ],
)
def test_the_list_refuses_bad_parameters(admin_api, project, params, fragment):
    assert_error(admin_api.get(auth_path(project), **params), 400, "ModelArts.0202", fragment)


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_only_administrators_see_or_change_authorizations(api_as, make_member, project, defaults, role):
    api = api_as(make_member(project, "someone", role), project)
    assert_error(api.get(auth_path(project)), 403, "ModelArts.0108")
    assert_error(
        api.post(auth_path(project), {"user_id": "all-users", "type": "agency", "content": "modelarts_agency"}),
        403,
        "ModelArts.0108",
    )
    assert_error(api.delete(auth_path(project), user_id="all-users"), 403, "ModelArts.0108")
    assert Authorization.objects.filter(project=project, user__isnull=True).exists()


def test_another_projects_authorizations_are_never_shown(admin_api, other_project, project_admin):
    project_storage_defaults_apply(project=other_project, actor=None)
    Membership.objects.create(project=other_project, user=project_admin, role=Role.ADMIN)
    response = admin_api.get(auth_path(other_project))
    assert_error(response, 403, "ModelArts.0105")
    response = admin_api.delete(auth_path(other_project), user_id="all-users")
    assert_error(response, 403, "ModelArts.0105")
    assert Authorization.objects.filter(project=other_project, user__isnull=True).exists()
