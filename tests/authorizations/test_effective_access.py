"""Issue 15 §6.9: a user's access is the union of their own and the all-users authorization; the
page says so and shows each member's effective access, computed by the storage gate's own rule."""

import pytest

from console.authorizations.models import Access, Agency, Authorization
from console.authorizations.selectors import effective_access
from console.storage import gate
from console.storage.models import Bucket
from console.storage.services import project_storage_defaults_apply


def url(project):
    return f"/projects/{project.project_id}/authorizations/"


@pytest.fixture
def scene(project, member, make_member):
    """all-users: modelarts_agency, read-write on every bucket. mia: her own read-only agency on "extra"
    only. bob: nothing of his own. Two buckets."""
    project_storage_defaults_apply(project=project, actor=None)
    default_bucket = Bucket.objects.get(project=project)
    extra = Bucket.objects.create(project=project, name=f"{default_bucket.name}-extra")
    narrow = Agency.objects.create(project=project, name="ma_agency_narrow", all_buckets=False, access=Access.READ)
    narrow.buckets.add(extra)
    Authorization.objects.create(project=project, user=member, type="agency", agency=narrow)
    bob = make_member(project, "bob")
    return {"default": default_bucket, "extra": extra, "narrow": narrow, "bob": bob}


def gate_level(user, project, bucket):
    """What the storage gate itself allows: read_write, read or '' (refused)."""

    def allowed(access):
        try:
            gate._check_authorization(user=user, project=project, bucket=bucket, access=access)
        except gate.StorageDenied:
            return False
        return True

    return "read_write" if allowed(gate.WRITE) else ("read" if allowed(gate.READ) else "")


def test_effective_access_is_the_union_and_agrees_with_the_gate(project, member, scene):
    # mia's own read-only grant does not replace all-users: she still writes everywhere.
    users = [member, scene["bob"]]
    for entry in effective_access(project=project, users=users):
        for access in entry.buckets:
            bucket = Bucket.objects.get(name=access.bucket_name)
            assert access.level == gate_level(entry.user, project, bucket)
            assert access.level == Access.READ_WRITE and access.via == "modelarts_agency"
    # Without all-users, what is left is mia's own grant: read on "extra", nothing on the default bucket.
    Authorization.objects.filter(project=project, user__isnull=True).delete()
    mia, bob = effective_access(project=project, users=users)
    levels = {a.bucket_name: a.level for a in mia.buckets}
    assert levels == {scene["default"].name: "", scene["extra"].name: Access.READ}
    for bucket in (scene["default"], scene["extra"]):
        assert levels[bucket.name] == gate_level(member, project, bucket)
    assert not bob.has_any and gate_level(scene["bob"], project, scene["extra"]) == ""


def test_the_page_tells_the_truth_and_shows_each_members_access(client_for, project_admin, project, member, scene):
    html = client_for(project_admin).get(url(project)).content.decode()
    assert "replaces the previous one." not in html
    assert "The all-users authorization applies too" in html
    assert 'id="effective-access"' in html
    row = html.split(f'id="effective-{member.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "ma_agency_narrow" in row and "modelarts_agency" in row
    assert f'data-bucket="{scene["extra"].name}" data-level="read_write"' in row
    assert f'id="effective-{scene["bob"].pk}"' in html


def test_a_member_sees_only_their_own_effective_access(client_for, project, member, scene):
    html = client_for(member).get(url(project)).content.decode()
    assert f'id="effective-{member.pk}"' in html
    assert f'id="effective-{scene["bob"].pk}"' not in html
