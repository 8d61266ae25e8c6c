"""Authentication, authorization and the access log's changes (users, groups, tokens, project permissions).

Every change is a record of the access topic written by the API and folded into the views by the projector; a
check reads the views. The bootstrap admin (KAFKABAN_ADMIN_TOKEN) is the one principal not in the log: it is how
the first user is made."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engine.access import credentials
from engine.access.limits import RateLimited, TokenBuckets
from engine.access.permissions import (
    DEFAULT_PROJECT,
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
from engine.access.records import access_record, user_subject
from engine.access.sessions import Session, SessionSigner, fingerprint
from engine.clock import now_ms, utc_from_ms
from engine.codec import codec
from engine.config import Settings
from engine.service.errors import ServiceError
from engine.service.wiring import Db, Produce, WaitProjected
from projections import access_queries as aq

BOOTSTRAP_ADMIN = "admin"  # the bootstrap token's principal; no user may take the name
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MAX_ROLES = 16
MAX_GROUPS = 64
MAX_DESCRIPTION = 200
MAX_TOKEN_LIFETIME_MS = 10 * 365 * 86_400_000


class Unauthenticated(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__(401, message, headers={"WWW-Authenticate": 'Bearer realm="kafkaban"'})


def check_name(what: str, name: str) -> str:
    if not NAME.fullmatch(name):
        raise ServiceError(422, f"{what} name {name[:80]!r} is not allowed: 1 to 64 letters, digits and . _ @ -, "
                                f"starting with a letter or digit")
    return name


def roles_of(names: Iterable[str], allowed_set: frozenset[Permission] = GLOBAL_ROLES) -> list[str]:
    names = list(names)
    if len(names) > MAX_ROLES:
        raise ServiceError(422, f"at most {MAX_ROLES} roles or permissions")
    try:
        return sorted(permission_set(names, allowed_set))
    except UnknownPermission as exc:
        raise ServiceError(422, str(exc)) from exc


def forbidden(principal: Principal, permission: Permission, where: str) -> ServiceError:
    return ServiceError(403, f"{principal.name} lacks {permission} {where}")


@dataclass
class Written:
    partition: int
    offset: int
    projected: bool


class Access:
    def __init__(self, settings: Settings, db: Db, produce: Produce, wait_projected: WaitProjected,
                 session_key: bytes) -> None:
        self.settings = settings
        self.db = db
        self.produce = produce
        self.wait_projected = wait_projected
        self.sessions = SessionSigner(session_key)
        self.failed_logins = TokenBuckets(settings.login_rate, 10)
        self.submissions = TokenBuckets(settings.submit_rate, settings.submit_burst)

    # -- who is asking ------------------------------------------------------------------------------------------

    def principal_of_token(self, token: str) -> Principal:
        return self._of_token(token)[0]

    def _of_token(self, token: str) -> tuple[Principal, str]:
        """The token's principal, and what a session opened with it keeps: its id, or the bootstrap token's
        fingerprint."""
        admin = self.settings.admin_token
        if admin and credentials.same_secret(token, admin):
            return self._bootstrap_admin(), f"bootstrap:{fingerprint(self.sessions.key, admin)}"
        parsed = credentials.parse_token(token)
        if parsed is None:
            raise Unauthenticated("the bearer token is not a Kafkaban token")
        token_id, digest = parsed
        with self.db() as conn:
            found = aq.token(conn, token_id)
            if found is None or not credentials.same_secret(digest, found["secret_sha256"]):
                raise Unauthenticated("unknown token")
            return self._principal_of_token_row(conn, found), token_id

    @staticmethod
    def _bootstrap_admin() -> Principal:
        return Principal(BOOTSTRAP_ADMIN, frozenset({Permission.ADMIN}), via="bootstrap token")

    def _principal_of_token_row(self, conn: Any, found: dict[str, Any]) -> Principal:
        if found["revoked_at"] is not None:
            raise Unauthenticated("the token was revoked")
        if found["expires_at"] is not None and found["expires_at"] <= utc_from_ms(now_ms()):
            raise Unauthenticated("the token has expired")
        principal = self._principal(conn, found["user_name"], "token")
        if principal is None:
            raise Unauthenticated("the token's user no longer exists")
        return principal

    def principal_of_session(self, cookie: str) -> tuple[Principal, Session]:
        session = self.sessions.read(cookie, now_ms())
        if session is None:
            raise Unauthenticated("the session is invalid or has expired; log in again")
        if session.token is not None:
            return self._principal_of_token_session(session), session
        with self.db() as conn:
            user = aq.live_user(conn, session.user)
            principal = self._principal(conn, session.user, "session") if user is not None else None
        if principal is None or user is None or user["password_changed_at"] > utc_from_ms(session.opened_at):
            raise Unauthenticated("the session has ended; log in again")
        return principal, session

    def _principal_of_token_session(self, session: Session) -> Principal:
        """A session opened with a token holds while the token does: revoked, expired, its user gone, or (the
        bootstrap token) replaced, and the session has ended too."""
        assert session.token is not None
        if session.token.startswith("bootstrap:"):
            admin = self.settings.admin_token
            held = f"bootstrap:{fingerprint(self.sessions.key, admin)}" if admin else ""
            if not held or not credentials.same_secret(session.token, held):
                raise Unauthenticated("the session's token is no longer valid; log in again")
            return self._bootstrap_admin()
        with self.db() as conn:
            found = aq.token(conn, session.token)
            if found is None or found["user_name"] != session.user:
                raise Unauthenticated("the session's token is no longer valid; log in again")
            try:
                return self._principal_of_token_row(conn, found)
            except Unauthenticated as exc:
                raise Unauthenticated(f"{exc}; log in again") from None

    def _principal(self, conn: Any, name: str, via: str) -> Principal | None:
        user = aq.live_user(conn, name)
        if user is None:
            return None
        roles = {*user["roles"], *aq.roles_of_groups(conn, list(user["groups"]))}
        return Principal(name, frozenset(Permission(r) for r in roles if r in GLOBAL_ROLES),
                         frozenset(user["groups"]), via)

    def _may_try_login(self, now: float, *buckets: str) -> None:
        try:
            for bucket in buckets:
                self.failed_logins.check(bucket, now)
        except RateLimited as exc:
            raise ServiceError(429, "too many failed logins; wait before trying again",
                               headers={"Retry-After": str(max(int(exc.retry_after_s) + 1, 1))}) from exc

    async def login(self, client: str, name: str, password: str) -> tuple[Principal, str, Session]:
        """A session for a user name and password; failures are rate limited per client and per name."""
        now = time.monotonic()
        self._may_try_login(now, f"client:{client}", f"user:{name}")

        def check() -> Principal | None:
            with self.db() as conn:
                user = aq.live_user(conn, name) if NAME.fullmatch(name) else None
                stored = user["password_hash"] if user is not None else credentials.DUMMY_HASH
                if not credentials.password_matches(password, stored) or user is None:
                    return None
                return self._principal(conn, name, "session")

        principal = await asyncio.to_thread(check)
        if principal is None:
            self.failed_logins.take(f"client:{client}", now)
            self.failed_logins.take(f"user:{name}", now)
            raise ServiceError(401, "unknown user name or wrong password")
        cookie, session = self.sessions.open(principal.name, now_ms())
        return principal, cookie, session

    async def login_with_token(self, client: str, token: str) -> tuple[Principal, str, Session]:
        """A session for the holder of a token (the web UI's other way in): it ends when the token does.
        Failures are rate limited per client, as password logins are."""
        now = time.monotonic()
        self._may_try_login(now, f"client:{client}")
        try:
            principal, held = await asyncio.to_thread(self._of_token, token)
        except Unauthenticated as exc:
            self.failed_logins.take(f"client:{client}", now)
            raise ServiceError(401, f"cannot log in with that token: {exc.detail}") from None
        cookie, session = self.sessions.open(principal.name, now_ms(), token=held)
        return principal, cookie, session

    # -- what they may do ---------------------------------------------------------------------------------------

    def grants(self, project: str) -> ProjectGrants:
        users: dict[str, frozenset[Permission]] = {}
        groups: dict[str, frozenset[Permission]] = {}
        with self.db() as conn:
            for kind, name, permissions in aq.project_grants(conn, project):
                (users if kind == "user" else groups)[name] = frozenset(Permission(p) for p in permissions)
        return ProjectGrants(users, groups)

    def may(self, principal: Principal, permission: Permission, project: str | None) -> bool:
        if has_role(principal, permission):
            return True
        return allowed(principal, permission, self.grants(project or DEFAULT_PROJECT))

    def require(self, principal: Principal, permission: Permission, project: str | None) -> None:
        """403 unless ``principal`` has ``permission`` on ``project`` (None: the default project)."""
        if not self.may(principal, permission, project):
            raise forbidden(principal, permission, f"on project {project or DEFAULT_PROJECT!r}")

    @staticmethod
    def may_role(principal: Principal, permission: Permission) -> bool:
        return has_role(principal, permission)

    def require_role(self, principal: Principal, permission: Permission) -> None:
        if not has_role(principal, permission):
            raise forbidden(principal, permission, "(a global role)")

    def readable_projects(self, principal: Principal) -> set[str] | None:
        """The projects whose runs and flows ``principal`` may see; None: every one (a global READ role)."""
        if has_role(principal, Permission.READ):
            return None
        with self.db() as conn:
            return aq.projects_granting(conn, principal.name, sorted(principal.groups), Permission.READ)

    def take_submission(self, principal: Principal) -> None:
        try:
            self.submissions.take(principal.name, time.monotonic())
        except RateLimited as exc:
            raise ServiceError(429, f"{principal.name} submits faster than {self.settings.submit_rate:g} a second "
                                    f"(burst {self.settings.submit_burst}); slow down",
                               headers={"Retry-After": str(max(int(exc.retry_after_s) + 1, 1))}) from exc

    # -- changes ------------------------------------------------------------------------------------------------

    async def _write(self, subject: str, record_type: str, body: dict[str, Any]) -> Written:
        value = codec("access", self.settings.schema_registry_url).encode(
            access_record(subject, record_type, body, now_ms()))
        partition, offset = await asyncio.to_thread(self.produce, self.settings.access_topic, subject, value)
        return Written(partition, offset, await self.wait_projected(self.settings.access_topic, partition, offset))

    def _user(self, name: str) -> dict[str, Any]:
        with self.db() as conn:
            found = aq.live_user(conn, name)
        if found is None:
            raise ServiceError(404, f"user {name!r} not found")
        return found

    async def add_user(self, by: Principal, name: str, password: str, roles: list[str],
                       groups: list[str]) -> dict[str, Any]:
        self.require_role(by, Permission.ADMIN)
        check_name("user", name)
        if name == BOOTSTRAP_ADMIN:
            raise ServiceError(409, f"{BOOTSTRAP_ADMIN!r} is the bootstrap token's principal; choose another name")
        role_names = roles_of(roles)
        if len(groups) > MAX_GROUPS:
            raise ServiceError(422, f"at most {MAX_GROUPS} groups")
        group_names = sorted({check_name("group", g) for g in groups})
        with self.db() as conn:
            if aq.live_user(conn, name) is not None:
                raise ServiceError(409, f"user {name!r} exists already")
        password_hash = await asyncio.to_thread(self._hash, password)
        written = await self._write(user_subject(name), "UserAdded", {
            "name": name, "password_hash": password_hash, "roles": role_names, "groups": group_names,
            "by": by.name})
        return {"user": name, "roles": role_names, "groups": group_names, "projected": written.projected}

    @staticmethod
    def _hash(password: str) -> str:
        try:
            return credentials.hash_password(password)
        except credentials.WeakPassword as exc:
            raise ServiceError(422, str(exc)) from exc

    async def change_password(self, by: Principal, name: str, password: str) -> dict[str, Any]:
        if by.name != name:
            self.require_role(by, Permission.ADMIN)
        await asyncio.to_thread(self._user, name)
        password_hash = await asyncio.to_thread(self._hash, password)
        written = await self._write(user_subject(name), "UserPasswordChanged",
                                    {"name": name, "password_hash": password_hash, "by": by.name})
        return {"user": name, "password_changed": True, "projected": written.projected}

    async def set_user_roles(self, by: Principal, name: str, roles: list[str], groups: list[str]) -> dict[str, Any]:
        self.require_role(by, Permission.ADMIN)
        await asyncio.to_thread(self._user, name)
        role_names = roles_of(roles)
        group_names = sorted({check_name("group", g) for g in groups[:MAX_GROUPS + 1]})
        if len(groups) > MAX_GROUPS:
            raise ServiceError(422, f"at most {MAX_GROUPS} groups")
        written = await self._write(user_subject(name), "UserRolesSet", {
            "name": name, "roles": role_names, "groups": group_names, "by": by.name})
        return {"user": name, "roles": role_names, "groups": group_names, "projected": written.projected}

    async def delete_user(self, by: Principal, name: str) -> dict[str, Any]:
        self.require_role(by, Permission.ADMIN)
        await asyncio.to_thread(self._user, name)
        written = await self._write(user_subject(name), "UserDeleted", {"name": name, "by": by.name})
        return {"user": name, "deleted": True, "projected": written.projected}

    async def set_group_roles(self, by: Principal, name: str, roles: list[str]) -> dict[str, Any]:
        self.require_role(by, Permission.ADMIN)
        check_name("group", name)
        role_names = roles_of(roles)
        written = await self._write(f"group:{name}", "GroupRolesSet", {"name": name, "roles": role_names,
                                                                      "by": by.name})
        return {"group": name, "roles": role_names, "projected": written.projected}

    async def create_token(self, by: Principal, user: str | None, expires_in_ms: int | None,
                           description: str) -> dict[str, Any]:
        """A new token for ``user`` (default: the caller); the token itself is in this answer and nowhere else."""
        user = user or by.name
        if user != by.name:
            self.require_role(by, Permission.ADMIN)
        if user == BOOTSTRAP_ADMIN:
            raise ServiceError(422, "the bootstrap admin has no user to give a token to: add a user with "
                                    "`kafkaban user add NAME --role ADMIN` and create its token")
        if expires_in_ms is not None and not 0 < expires_in_ms <= MAX_TOKEN_LIFETIME_MS:
            raise ServiceError(422, "a token expires after more than 0 s and at most 10 years")
        if len(description) > MAX_DESCRIPTION:
            raise ServiceError(422, f"a description has at most {MAX_DESCRIPTION} characters")
        await asyncio.to_thread(self._user, user)
        made = credentials.new_token()
        expires_at = now_ms() + expires_in_ms if expires_in_ms is not None else None
        written = await self._write(user_subject(user), "TokenCreated", {
            "token_id": made.token_id, "user": user, "secret_sha256": made.secret_hash, "expires_at": expires_at,
            "description": description, "by": by.name})
        return {"token": made.token, "token_id": made.token_id, "user": user,
                "expires_at": utc_from_ms(expires_at).isoformat() if expires_at is not None else None,
                "projected": written.projected}

    async def revoke_token(self, by: Principal, token_id: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            with self.db() as conn:
                return aq.token(conn, token_id)

        token = await asyncio.to_thread(found)
        if token is None or (token["user_name"] != by.name and not has_role(by, Permission.ADMIN)):
            raise ServiceError(404, f"token {token_id[:40]!r} not found")
        written = await self._write(user_subject(token["user_name"]), "TokenRevoked",
                                    {"token_id": token_id, "user": token["user_name"], "by": by.name})
        return {"token_id": token_id, "revoked": True, "projected": written.projected}

    def list_tokens(self, by: Principal, user: str | None) -> list[dict[str, Any]]:
        if user != by.name and not has_role(by, Permission.ADMIN):
            if user is not None:
                raise forbidden(by, Permission.ADMIN, "to see another user's tokens")
            user = by.name
        with self.db() as conn:
            return aq.list_tokens(conn, user)

    async def set_project_permission(self, by: Principal, project: str, kind: str, name: str,
                                     permissions: list[str]) -> dict[str, Any]:
        self.require(by, Permission.ADMIN, project)
        if kind not in ("user", "group"):
            raise ServiceError(422, "a grant is to a user or a group")
        check_name(kind, name)
        names = roles_of(permissions, PROJECT_PERMISSIONS)
        written = await self._write(f"project:{project}", "ProjectPermissionSet", {
            "project": project, "kind": kind, "name": name, "permissions": names, "by": by.name})
        return {"project": project, "kind": kind, "name": name, "permissions": names,
                "projected": written.projected}

    async def grant_creator(self, by: Principal, project: str) -> None:
        """The first upload of a project makes its uploader the project's ADMIN, as Azkaban's createProject does."""
        if by.name == BOOTSTRAP_ADMIN or by.via == "none":
            return  # the bootstrap admin may do anything already, and is nobody to grant to
        await self._write(f"project:{project}", "ProjectPermissionSet", {
            "project": project, "kind": "user", "name": by.name, "permissions": [Permission.ADMIN.value],
            "by": by.name})
