"""Azkaban's permission model (engine/access/permissions.py), tested as Azkaban tests its own.

References are to the Azkaban repository (github.com/azkaban/azkaban):
- azkaban-common/src/test/java/azkaban/user/PermissionTest.java, and Permission.addPermission, where ADMIN is
  "all encompassing": once added, only ADMIN is kept;
- azkaban-common/src/main/java/azkaban/project/Project.java hasPermission / hasUserPermission /
  hasGroupPermission: the user's project permission or ADMIN, then any of its groups' permission or ADMIN;
- azkaban-web-server/.../servlet/LoginAbstractAzkabanServlet.java hasPermission: the project's answer, else any
  of the user's roles being that permission or ADMIN.
"""

from __future__ import annotations

import pytest

from engine.access.permissions import (
    GLOBAL_ROLES,
    PROJECT_PERMISSIONS,
    Permission,
    Principal,
    ProjectGrants,
    UnknownPermission,
    allowed,
    has_role,
    permission_set,
)

P = Permission
PROJECT_ONLY_GRANTABLE = sorted(PROJECT_PERMISSIONS - {P.ADMIN})


def user(name: str = "alice", roles=(), groups=()) -> Principal:
    return Principal(name, frozenset(roles), frozenset(groups))


def grants(users=None, groups=None) -> ProjectGrants:
    return ProjectGrants({k: frozenset(v) for k, v in (users or {}).items()},
                         {k: frozenset(v) for k, v in (groups or {}).items()})


# -- permission_set: PermissionTest --------------------------------------------------------------------------


def test_no_names_is_no_permission():
    # PermissionTest.testEmptyPermissionCreation
    assert permission_set([]) == frozenset()


def test_adding_by_name_equals_adding_by_type():
    # PermissionTest.testSinglePermissionCreation and testListPermissionCreation (order does not matter)
    assert permission_set(["READ"]) == frozenset({P.READ})
    assert permission_set(["READ", "EXECUTE"]) == permission_set([P.EXECUTE, P.READ]) == {P.EXECUTE, P.READ}


def test_names_round_trip():
    # PermissionTest.testToAndFromObject: a set written out as names reads back as the same set
    original = permission_set(["READ", "EXECUTE", "WRITE"])
    assert permission_set(sorted(original)) == original


@pytest.mark.parametrize("names", [["ADMIN"], ["READ", "ADMIN"], ["ADMIN", "WRITE", "EXECUTE"],
                                   [*GLOBAL_ROLES], ["ADMIN", "ADMIN"]])
def test_admin_is_all_encompassing_so_only_admin_is_kept(names):
    # Permission.addPermission: "Admin is all encompassing permission", the set is cleared down to ADMIN,
    # whatever order it came in
    assert permission_set(names) == frozenset({P.ADMIN})


def test_removing_a_permission_leaves_the_others():
    # PermissionTest.testRemovePermission / testRemovePermissionByName: the sets are immutable here, so removing
    # is set difference, and it must equal the set built without the removed name
    assert permission_set(["READ", "EXECUTE", "WRITE"]) - {P.EXECUTE} == permission_set(["READ", "WRITE"])


def test_names_are_case_insensitive_and_trimmed():
    # unlike Azkaban's Type.valueOf, which is exact: a CLI user typing "read" means READ
    assert permission_set([" read", "Execute\t"]) == {P.READ, P.EXECUTE}


@pytest.mark.parametrize("name", ["", " ", "READS", "ROOT", "READ,WRITE", "READ WRITE", "ADMIN\x00", "*",
                                  "x" * 10_000,
                                  "\uff32\uff25\uff21\uff24"])  # fullwidth READ
def test_an_unknown_name_is_refused_with_the_choices(name):
    with pytest.raises(UnknownPermission, match=r"unknown permission .*one of ADMIN, CREATEPROJECTS, EXECUTE"):
        permission_set(["READ", name])


def test_an_unknown_name_is_refused_even_beside_admin():
    # ADMIN swallowing the rest must not swallow a typo
    with pytest.raises(UnknownPermission, match="unknown permission 'WIRTE'"):
        permission_set(["ADMIN", "WIRTE"])


@pytest.mark.parametrize("name", ["CREATEPROJECTS", "RUN_INLINE", "run_inline"])
def test_a_global_only_permission_is_refused_where_only_project_permissions_are(name):
    with pytest.raises(UnknownPermission, match=r"cannot be granted here: one of ADMIN, EXECUTE, READ, SCHEDULE, "
                                                r"WRITE$"):
        permission_set([name], PROJECT_PERMISSIONS)


def test_every_project_permission_is_grantable_on_a_project():
    assert permission_set(PROJECT_ONLY_GRANTABLE, PROJECT_PERMISSIONS) == frozenset(PROJECT_ONLY_GRANTABLE)
    assert permission_set(["ADMIN"], PROJECT_PERMISSIONS) == {P.ADMIN}


# -- has_role: the global roles of LoginAbstractAzkabanServlet.hasPermission ----------------------------------


@pytest.mark.parametrize("wanted", sorted(GLOBAL_ROLES))
def test_a_global_admin_has_every_role(wanted):
    assert has_role(user(roles={P.ADMIN}), wanted)


def test_a_read_role_cannot_execute_write_or_schedule():
    reader = user(roles={P.READ})
    assert has_role(reader, P.READ)
    assert not any(has_role(reader, p) for p in (P.EXECUTE, P.WRITE, P.SCHEDULE, P.CREATEPROJECTS, P.ADMIN))


def test_no_role_has_nothing():
    assert not any(has_role(user(), p) for p in GLOBAL_ROLES)


def test_run_inline_is_not_implied_by_execute_or_write_but_is_by_admin():
    # running a definition never registered is running arbitrary code: only the role itself or ADMIN gives it
    assert not has_role(user(roles={P.EXECUTE, P.WRITE, P.SCHEDULE, P.READ, P.CREATEPROJECTS}), P.RUN_INLINE)
    assert has_role(user(roles={P.RUN_INLINE}), P.RUN_INLINE)
    assert has_role(user(roles={P.ADMIN}), P.RUN_INLINE)


def test_run_inline_does_not_imply_anything_else():
    assert not any(has_role(user(roles={P.RUN_INLINE}), p) for p in GLOBAL_ROLES - {P.RUN_INLINE})


# -- allowed: Project.hasPermission, then the roles ----------------------------------------------------------


def test_a_user_grant_gives_that_permission_on_that_project_only():
    project_a = grants(users={"alice": {P.EXECUTE}})
    project_b = grants(users={"bob": {P.EXECUTE}})
    assert allowed(user("alice"), P.EXECUTE, project_a)
    assert not allowed(user("alice"), P.EXECUTE, project_b)
    assert not allowed(user("alice"), P.WRITE, project_a)


def test_a_project_read_grant_cannot_execute():
    project = grants(users={"alice": {P.READ}})
    assert allowed(user("alice"), P.READ, project)
    assert not allowed(user("alice"), P.EXECUTE, project)


def test_a_project_admin_has_every_project_permission_there():
    # Project.hasUserPermission: perm.isPermissionSet(ADMIN) || perm.isPermissionSet(type)
    project = grants(users={"alice": {P.ADMIN}})
    assert all(allowed(user("alice"), p, project) for p in PROJECT_PERMISSIONS)
    assert not allowed(user("alice"), P.READ, grants())


def test_a_group_grant_works_for_a_member_and_not_a_non_member():
    # Project.hasGroupPermission: any of the user's groups
    project = grants(groups={"ops": {P.EXECUTE}})
    assert allowed(user("alice", groups={"dev", "ops"}), P.EXECUTE, project)
    assert not allowed(user("bob", groups={"dev"}), P.EXECUTE, project)
    assert not allowed(user("carol"), P.EXECUTE, project)


def test_a_group_admin_grant_gives_members_every_project_permission():
    project = grants(groups={"ops": {P.ADMIN}})
    assert all(allowed(user("alice", groups={"ops"}), p, project) for p in PROJECT_PERMISSIONS)


def test_a_grant_to_a_user_named_like_a_group_is_not_a_group_grant():
    # users and groups are separate maps in Project (userPermissionMap, groupPermissionMap)
    project = grants(users={"ops": {P.EXECUTE}})
    assert not allowed(user("alice", groups={"ops"}), P.EXECUTE, project)
    project = grants(groups={"alice": {P.EXECUTE}})
    assert not allowed(user("alice"), P.EXECUTE, project)


def test_a_global_role_applies_to_every_project_even_one_granting_nothing():
    # LoginAbstractAzkabanServlet.hasPermission: a role of that type, or ADMIN, after the project says no
    executor = user(roles={P.EXECUTE})
    assert allowed(executor, P.EXECUTE, grants())
    assert allowed(executor, P.EXECUTE, None)
    assert not allowed(executor, P.WRITE, None)
    assert allowed(user(roles={P.ADMIN}), P.WRITE, None)


def test_a_project_that_does_not_exist_grants_nothing():
    assert not any(allowed(user("alice", groups={"ops"}), p, None) for p in PROJECT_PERMISSIONS)


def test_a_grant_to_another_user_or_an_empty_grant_gives_nothing():
    project = grants(users={"bob": {P.ADMIN}, "alice": set()}, groups={"ops": set()})
    assert not any(allowed(user("alice", groups={"ops"}), p, project) for p in PROJECT_PERMISSIONS)


def test_names_are_matched_exactly():
    # a user name differing in case or by a space is another user
    project = grants(users={"alice": {P.EXECUTE}}, groups={"ops": {P.EXECUTE}})
    for name in ("Alice", "alice ", " alice", "ALICE"):
        assert not allowed(user(name), P.EXECUTE, project)
    assert not allowed(user("bob", groups={"OPS"}), P.EXECUTE, project)
