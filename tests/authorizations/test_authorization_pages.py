"""The administrators' pages for agencies and authorizations: full pages, partials, every rule."""

import pytest

from console.accounts.models import Role
from console.audit.models import AuditEntry
from console.authorizations.models import Agency, Authorization
from console.storage.services import project_storage_defaults_apply

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def defaults(project):
    project_storage_defaults_apply(project=project, actor=None)
    return project


@pytest.fixture
def admin_client(client_for, project_admin, defaults):
    return client_for(project_admin)


def url(project, suffix=""):
    return f"/projects/{project.project_id}/authorizations/{suffix}"


def test_the_list_is_a_full_page(admin_client, project):
    response = admin_client.get(url(project))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert "modelarts_agency" in html and "all-users" in html
    assert 'id="authorization-form"' in html and 'id="agency-form"' in html
    assert 'data-confirm-word="DELETE"' in html
    assert response["Vary"].count("HX-Request") == 1


def test_an_htmx_request_gets_only_the_table(admin_client, project):
    response = admin_client.get(url(project), {"q": "all"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="authorization-table">')
    assert "modelarts_agency" in html


def test_the_search_filters_by_user_name(admin_client, project, member):
    Authorization.objects.create(
        project=project, user=member, type="agency", agency=Agency.objects.get(project=project)
    )
    html = admin_client.get(url(project), {"q": "mia"}, **HX).content.decode()
    assert 'id="authorization-' in html and ">mia<" in html.replace("\n", "")
    assert "<code>all-users</code>" not in html


def test_it_authorizes_a_user_with_an_agency(admin_client, project, member, project_admin):
    agency = Agency.objects.get(project=project)
    response = admin_client.post(url(project, "create/"), {"user": member.pk, "type": "agency", "agency": agency.pk})
    assert response.status_code == 302
    assert Authorization.objects.get(project=project, user=member).agency == agency
    assert AuditEntry.objects.filter(action="authorization.create", actor=project_admin).exists()
    assert "Authorized mia with modelarts_agency." in admin_client.get(url(project)).content.decode()


def test_an_htmx_authorization_redirects_on_the_client(admin_client, project, member):
    agency = Agency.objects.get(project=project)
    response = admin_client.post(
        url(project, "create/"), {"user": member.pk, "type": "agency", "agency": agency.pk}, **HX
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == url(project)


def test_it_records_a_credential_with_an_encrypted_secret(admin_client, project, member):
    response = admin_client.post(
        url(project, "create/"),
        {"user": member.pk, "type": "credential", "access_key": "AKPAGE", "secret_key": "page-secret-123"},
    )
    assert response.status_code == 302
    stored = Authorization.objects.get(project=project, user=member)
    assert stored.secret() == "page-secret-123" and "page-secret-123" not in stored.secret_encrypted
    html = admin_client.get(url(project)).content.decode()
    assert "AKPAGE" in html and "page-secret-123" not in html


@pytest.mark.parametrize(
    "data, field_error",
    [
        ({"type": "agency"}, "Choose the agency to give."),
        ({"type": "credential", "secret_key": "s"}, "A credential needs the access key."),
        ({"type": "credential", "access_key": "ak"}, "A credential needs the secret key."),
    ],
)
def test_an_invalid_authorization_shows_the_form_with_the_reason(admin_client, project, member, data, field_error):
    response = admin_client.post(url(project, "create/"), {"user": member.pk, **data}, **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<form id="authorization-form"')
    assert field_error in html
    assert not Authorization.objects.filter(user=member).exists()


def test_a_user_outside_the_project_is_not_offered(admin_client, project, other_project, make_member):
    stranger = make_member(other_project, "sam")
    response = admin_client.post(url(project, "create/"), {"user": stranger.pk, "type": "agency"}, **HX)
    assert "Select a valid choice" in response.content.decode()
    assert not Authorization.objects.filter(user=stranger).exists()


def test_the_secret_is_not_echoed_back_after_an_error(admin_client, project, member):
    response = admin_client.post(
        url(project, "create/"), {"user": member.pk, "type": "credential", "secret_key": "keep-me-hidden"}, **HX
    )
    assert "keep-me-hidden" not in response.content.decode()


def test_it_deletes_one_authorization(admin_client, project, member):
    agency = Agency.objects.get(project=project)
    authorization = Authorization.objects.create(project=project, user=member, type="agency", agency=agency)
    response = admin_client.post(url(project, f"{authorization.pk}/delete/"))
    assert response.status_code == 302
    assert not Authorization.objects.filter(pk=authorization.pk).exists()
    assert AuditEntry.objects.filter(action="authorization.delete", object_id=str(authorization.pk)).exists()


def test_it_deletes_a_batch(admin_client, project, make_member):
    agency = Agency.objects.get(project=project)
    chosen = [
        Authorization.objects.create(project=project, user=make_member(project, name), type="agency", agency=agency)
        for name in ("a1", "a2", "a3")
    ]
    response = admin_client.post(url(project, "delete/"), {"authorization": [chosen[0].pk, chosen[2].pk]})
    assert response.status_code == 302
    assert list(Authorization.objects.filter(project=project, user__isnull=False)) == [chosen[1]]
    assert AuditEntry.objects.filter(action="authorization.delete").count() == 2
    assert "2 authorization(s) deleted." in admin_client.get(url(project)).content.decode()


def test_a_batch_never_takes_all_users_along(admin_client, project):
    all_users = Authorization.objects.get(project=project, user__isnull=True)
    admin_client.post(url(project, "delete/"), {"authorization": [all_users.pk]})
    assert Authorization.objects.filter(pk=all_users.pk).exists()
    assert "after typing DELETE" in admin_client.get(url(project)).content.decode()


def test_an_empty_batch_says_so(admin_client, project):
    admin_client.post(url(project, "delete/"), {})
    assert "Select the authorizations to delete." in admin_client.get(url(project)).content.decode()


def test_a_batch_ignores_another_projects_ids(admin_client, project, other_project):
    project_storage_defaults_apply(project=other_project, actor=None)
    theirs = Authorization.objects.get(project=other_project)
    admin_client.post(url(project, "delete/"), {"authorization": [theirs.pk]})
    assert Authorization.objects.filter(pk=theirs.pk).exists()


def test_all_users_needs_the_typed_word(admin_client, project):
    for word in ("", "delete", "DELETE "):
        admin_client.post(url(project, "all-users/delete/"), {"confirm": word})
        assert Authorization.objects.filter(project=project, user__isnull=True).exists()
    assert "Type DELETE (in capitals) to confirm." in admin_client.get(url(project)).content.decode()
    response = admin_client.post(url(project, "all-users/delete/"), {"confirm": "DELETE"})
    assert response.status_code == 302
    assert not Authorization.objects.filter(project=project, user__isnull=True).exists()
    assert "Delete all-users auth info successfully!" in admin_client.get(url(project)).content.decode()
    assert AuditEntry.objects.filter(action="authorization.delete").count() == 1


def test_the_single_delete_url_also_wants_the_word_for_all_users(admin_client, project):
    all_users = Authorization.objects.get(project=project, user__isnull=True)
    admin_client.post(url(project, f"{all_users.pk}/delete/"))
    assert Authorization.objects.filter(pk=all_users.pk).exists()


def test_it_creates_an_agency_for_some_buckets_read_only(admin_client, project, project_admin):
    bucket = project.buckets.get()
    response = admin_client.post(
        url(project, "agencies/create/"),
        {"agency_name_suffix": "readers", "access": "read", "buckets": [bucket.pk], "description": "read only"},
    )
    assert response.status_code == 302
    agency = Agency.objects.get(project=project, name="ma_agency_readers")
    assert not agency.all_buckets and list(agency.buckets.all()) == [bucket] and not agency.can_write
    assert AuditEntry.objects.filter(action="agency.create", actor=project_admin).exists()


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"agency_name_suffix": "", "all_buckets": "on", "access": "read_write"},
            "already has an agency named modelarts_agency",
        ),
        ({"agency_name_suffix": "a b", "all_buckets": "on", "access": "read_write"}, "may contain only letters"),
        ({"agency_name_suffix": "x" * 51, "all_buckets": "on", "access": "read_write"}, "at most 50 characters"),
        ({"agency_name_suffix": "nob", "access": "read_write"}, "Choose at least one bucket, or every bucket."),
    ],
)
def test_an_invalid_agency_shows_the_form_with_the_reason(admin_client, project, data, message):
    before = Agency.objects.count()
    response = admin_client.post(url(project, "agencies/create/"), data, **HX)
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="agency-form"')
    assert message in html
    assert Agency.objects.count() == before


def test_an_agency_in_use_cannot_be_deleted(admin_client, project):
    agency = Agency.objects.get(project=project)
    admin_client.post(url(project, f"agencies/{agency.pk}/delete/"))
    assert Agency.objects.filter(pk=agency.pk).exists()
    assert "delete those authorizations first" in admin_client.get(url(project)).content.decode()


def test_an_unused_agency_is_deleted_and_audited(admin_client, project):
    agency = Agency.objects.create(project=project, name="ma_agency_spare")
    response = admin_client.post(url(project, f"agencies/{agency.pk}/delete/"))
    assert response.status_code == 302
    assert not Agency.objects.filter(pk=agency.pk).exists()
    assert AuditEntry.objects.filter(action="agency.delete", object_id=str(agency.pk)).exists()


def test_another_projects_agency_cannot_be_deleted_from_here(admin_client, project, other_project):
    theirs = Agency.objects.create(project=other_project, name="ma_agency_theirs")
    assert admin_client.post(url(project, f"agencies/{theirs.pk}/delete/")).status_code == 404
    assert Agency.objects.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_see_only_what_applies_to_them_and_no_forms(client_for, make_member, project, defaults, role):
    me = make_member(project, "me", role)
    someone = make_member(project, "someone")
    agency = Agency.objects.get(project=project)
    Authorization.objects.create(project=project, user=someone, type="agency", agency=agency)
    html = client_for(me).get(url(project)).content.decode()
    assert "all-users" in html
    assert "someone" not in html.split('id="authorization-table"')[1]
    assert 'id="authorization-form"' not in html and 'id="agency-form"' not in html


@pytest.mark.parametrize(
    "suffix",
    ["create/", "delete/", "all-users/delete/", "1/delete/", "agencies/create/", "agencies/1/delete/"],
)
def test_members_cannot_change_anything(client_for, member, project, defaults, suffix):
    response = client_for(member).post(url(project, suffix), {"confirm": "DELETE", "user": "all-users"})
    assert response.status_code == 403
    assert Authorization.objects.filter(project=project).count() == 1


def test_non_members_get_404(client_for, make_member, other_project, project, defaults):
    outsider = make_member(other_project, "out")
    assert client_for(outsider).get(url(project)).status_code == 404


def test_the_nav_links_to_the_page(admin_client, project):
    html = admin_client.get(f"/projects/{project.project_id}/").content.decode()
    assert f'href="{url(project)}"' in html
