"""Azkaban's permission model, pure.

Global roles name the permission they grant (ADMIN, READ, WRITE, EXECUTE, SCHEDULE, CREATEPROJECTS), plus
RUN_INLINE, Kafkaban's own: running a definition that was never registered is running arbitrary code. Projects
grant READ, WRITE, EXECUTE, SCHEDULE and ADMIN to users and groups. A check passes, as Azkaban's
``LoginAbstractAzkabanServlet.hasPermission`` decides it, when the project grants the permission or ADMIN to the
user (``Project.hasUserPermission``) or to one of its groups (``Project.hasGroupPermission``), or when one of the
user's roles (its own, or one of its groups') is that permission or ADMIN. ADMIN encompasses every other
permission (``Permission.addPermission``, mirrored in tests/unit/test_permissions.py after PermissionTest).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Permission(StrEnum):
    ADMIN = "ADMIN"
    READ = "READ"
    WRITE = "WRITE"
    EXECUTE = "EXECUTE"
    SCHEDULE = "SCHEDULE"
    CREATEPROJECTS = "CREATEPROJECTS"
    RUN_INLINE = "RUN_INLINE"


GLOBAL_ROLES = frozenset(Permission)
PROJECT_PERMISSIONS = frozenset({Permission.READ, Permission.WRITE, Permission.EXECUTE, Permission.SCHEDULE,
                                 Permission.ADMIN})
DEFAULT_PROJECT = "default"  # where a flow registered without a project belongs, under the same rules


class UnknownPermission(ValueError):
    pass


def permission_set(names: Iterable[str], allowed: frozenset[Permission] = GLOBAL_ROLES) -> frozenset[Permission]:
    """Names to permissions; ADMIN alone stands for all (Azkaban keeps only ADMIN once it is added)."""
    found: set[Permission] = set()
    for name in names:
        try:
            permission = Permission(name.strip().upper())
        except ValueError:
            raise UnknownPermission(f"unknown permission {name!r}: one of "
                                    f"{', '.join(sorted(allowed))}") from None
        if permission not in allowed:
            raise UnknownPermission(f"{permission} cannot be granted here: one of {', '.join(sorted(allowed))}")
        found.add(permission)
    return frozenset({Permission.ADMIN}) if Permission.ADMIN in found else frozenset(found)


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: a user of the access log, or the built-in admin of a bootstrap token."""

    name: str
    roles: frozenset[Permission] = frozenset()
    groups: frozenset[str] = frozenset()
    via: str = "token"  # token, session, bootstrap token, or none (authentication off)


@dataclass(frozen=True)
class ProjectGrants:
    """What one project grants, to users and to groups."""

    users: Mapping[str, frozenset[Permission]] = field(default_factory=dict)
    groups: Mapping[str, frozenset[Permission]] = field(default_factory=dict)


def _grants(granted: Iterable[Permission], wanted: Permission) -> bool:
    granted = frozenset(granted)
    return Permission.ADMIN in granted or wanted in granted


def has_role(principal: Principal, wanted: Permission) -> bool:
    """A global permission: one of the principal's roles is ``wanted`` or ADMIN."""
    return _grants(principal.roles, wanted)


def allowed(principal: Principal, wanted: Permission, project: ProjectGrants | None) -> bool:
    """``wanted`` on a project (None: a project that grants nothing, such as one not created yet)."""
    if has_role(principal, wanted):
        return True
    if project is None:
        return False
    if _grants(project.users.get(principal.name, ()), wanted):
        return True
    return any(_grants(project.groups.get(group, ()), wanted) for group in principal.groups)
