"""Server admin operations on local accounts (the ``/_synapse/admin`` user API).

Every method takes a full user id and works on local accounts only; an
unknown or remote user is ``NotFound`` (Synapse answers 404 for both, except
where it says 400 for remote users, which the API layer checks first).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from homeserver.config.model import Config
from homeserver.core.errors import BadJson, InvalidParam, NotFound, UserInUse
from homeserver.core.ids import localpart, parse_user_id
from homeserver.services.accounts.account import AccountService
from homeserver.services.accounts.devices import DeviceService
from homeserver.services.accounts.passwords import PasswordHasher
from homeserver.services.accounts.registration import RegistrationService
from homeserver.services.accounts.tokens import (
    ACCESS_TOKEN_PREFIX,
    hash_token,
    new_row_id,
    new_token,
)
from homeserver.services.clock import Clock
from homeserver.services.profiles import ProfileService
from homeserver.services.push.pushers import PusherService
from homeserver.services.ratelimit import RateLimiter
from homeserver.services.requester import Requester
from homeserver.services.rooms import Rooms
from homeserver.storage.db import Database
from homeserver.storage.stores.accounts import AccountStore
from homeserver.storage.stores.admin import USER_ORDER, AdminStore, UserFilter, UserRow
from homeserver.storage.stores.tokens import TokenStore

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]


def user_json(row: UserRow) -> JsonDict:
    """An account as the admin API shows it (list rows and single users)."""
    return {
        "name": row.user_id,
        "displayname": row.displayname,
        "avatar_url": row.avatar_url,
        "is_guest": row.is_guest,
        "admin": row.is_admin,
        "deactivated": row.deactivated,
        "erased": row.erased,
        "shadow_banned": row.shadow_banned,
        "locked": row.locked,
        "suspended": row.suspended,
        "approved": True,
        "user_type": row.user_type,
        "appservice_id": row.appservice_id,
        "creation_ts": row.created_ts,
        "threepids": [],
        "external_ids": [],
        "consent_server_notice_sent": None,
        "consent_version": None,
        "consent_ts": None,
        "last_seen_ts": None,
    }


class UserAdmin:
    """Listing, creating, changing and inspecting local accounts."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        config: Config,
        registration: RegistrationService,
        account: AccountService,
        devices: DeviceService,
        passwords: PasswordHasher,
        profiles: ProfileService,
        pushers: PusherService,
        rooms: Rooms,
        ratelimiter: RateLimiter | None = None,
    ) -> None:
        self._db = db
        self._ratelimiter = ratelimiter
        self._clock = clock
        self._config = config
        self._registration = registration
        self._account = account
        self._devices = devices
        self._passwords = passwords
        self._profiles = profiles
        self._pushers = pushers
        self._rooms = rooms
        self._store = AdminStore()
        self._accounts = AccountStore()
        self._tokens = TokenStore()

    def is_local(self, user_id: str) -> bool:
        try:
            parsed = parse_user_id(user_id, strict=False)
        except ValueError:
            return False
        return parsed.partition(":")[2] == self._config.server_name

    async def _row(self, user_id: str) -> UserRow:
        async with self._db.read() as conn:
            row = await self._store.get_user(conn, user_id)
        if row is None:
            raise NotFound("User not found")
        return row

    async def get_user(self, user_id: str) -> JsonDict:
        """The account (404 M_NOT_FOUND when unknown)."""
        row = await self._row(user_id)
        out = user_json(row)
        devices = await self._devices.list_devices(user_id)
        seen = [d.last_seen_ts for d in devices if d.last_seen_ts is not None]
        out["last_seen_ts"] = max(seen) if seen else None
        return out

    async def list_users(
        self,
        filters: UserFilter,
        *,
        offset: int,
        limit: int,
        order_by: str,
        descending: bool,
    ) -> JsonDict:
        """One page of accounts; ``next_token`` is the offset of the next page."""
        async with self._db.read() as conn:
            rows, total = await self._store.list_users(
                conn,
                filters,
                offset=offset,
                limit=limit,
                order_by=order_by,
                descending=descending,
            )
        out: JsonDict = {"users": [user_json(r) for r in rows], "total": total}
        if offset + len(rows) < total:
            out["next_token"] = str(offset + len(rows))
        return out

    async def upsert_user(self, admin: Requester, user_id: str, body: JsonDict) -> bool:
        """Creates the account or changes the fields given in ``body``.

        Returns:
            True when the account was created.

        Raises:
            BadJson / InvalidParam: malformed fields.
        """
        password = _opt(body, "password", str)
        displayname = _opt(body, "displayname", str)
        avatar_url = _opt(body, "avatar_url", str)
        admin_flag = _opt(body, "admin", bool)
        deactivated = _opt(body, "deactivated", bool)
        locked = _opt(body, "locked", bool)
        logout_devices = _opt(body, "logout_devices", bool)
        user_type = body.get("user_type", ...)
        if user_type is not ... and user_type is not None and user_type not in ("bot", "support"):
            raise InvalidParam("Invalid user type")
        async with self._db.read() as conn:
            existing = await self._store.get_user(conn, user_id)
        created = False
        if existing is None:
            try:
                await self._registration.register_user(
                    localpart(parse_user_id(user_id, strict=False)),
                    password,
                    admin=bool(admin_flag),
                    user_type=user_type if isinstance(user_type, str) else None,
                    displayname=displayname,
                )
            except UserInUse:  # a concurrent create
                pass
            else:
                created = True
        elif password:
            await self._account.change_password(
                user_id, password, logout_devices=logout_devices is not False
            )
        if not created:
            async with self._db.write() as txn:
                if admin_flag is not None:
                    await self._accounts.set_admin(txn, user_id, admin_flag)
                if user_type is not ...:
                    await self._store.set_user_type(
                        txn, user_id, user_type if isinstance(user_type, str) else None
                    )
                if deactivated is False and existing is not None and existing.deactivated:
                    if password is None:
                        raise InvalidParam("Must provide a password to re-activate an account")
                    await self._store.reactivate(txn, user_id)
            if displayname is not None:
                await self._set_profile(user_id, "displayname", displayname)
        if avatar_url is not None:
            await self._set_profile(user_id, "avatar_url", avatar_url)
        if locked is not None:
            await self.set_flag(user_id, "locked", locked)
        if deactivated is True and (existing is None or not existing.deactivated):
            await self._account.deactivate(user_id)
        logger.info("%s %s %s", admin.user_id, "created" if created else "updated", user_id)
        return created

    async def _set_profile(self, user_id: str, key: str, value: str) -> None:
        await self._profiles.set_field(
            Requester(user_id=user_id, device_id=None), user_id, key, value
        )

    async def deactivate(self, user_id: str, *, erase: bool) -> None:
        await self._row(user_id)
        await self._account.deactivate(user_id, erase=erase)

    async def reset_password(self, user_id: str, password: str, *, logout_devices: bool) -> None:
        await self._row(user_id)
        await self._account.change_password(user_id, password, logout_devices=logout_devices)

    async def whois(self, user_id: str) -> JsonDict:
        """Sessions per device, with their last connection (spec ``getWhoIs``)."""
        await self._row(user_id)
        devices: JsonDict = {}
        for device in await self._devices.list_devices(user_id):
            connections = []
            if device.last_seen_ts is not None:
                connections.append(
                    {
                        "ip": device.last_seen_ip or "",
                        "last_seen": device.last_seen_ts,
                        "user_agent": device.user_agent or "",
                    }
                )
            devices[device.device_id] = {"sessions": [{"connections": connections}]}
        return {"user_id": user_id, "devices": devices}

    async def joined_rooms(self, user_id: str) -> list[str]:
        await self._row(user_id)
        async with self._db.read() as conn:
            rooms = await self._rooms.state_store.rooms_for_user(conn, user_id, ("join",))
        return sorted(rooms)

    async def set_admin(self, user_id: str, is_admin: bool) -> None:
        await self._row(user_id)
        async with self._db.write() as txn:
            await self._accounts.set_admin(txn, user_id, is_admin)

    async def is_admin(self, user_id: str) -> bool:
        return (await self._row(user_id)).is_admin

    async def set_flag(self, user_id: str, flag: str, value: bool) -> None:
        """Sets ``shadow_banned``, ``locked`` or ``suspended``."""
        await self._row(user_id)
        async with self._db.write() as txn:
            await self._store.set_user_flag(txn, user_id, flag, value)

    async def flags(self, user_id: str) -> UserRow:
        return await self._row(user_id)

    async def login_as(self, admin: Requester, user_id: str, valid_until_ms: int | None) -> str:
        """A new access token for ``user_id`` with no device, marked as the
        admin's puppet token (it does not show up as a device of the user)."""
        row = await self._row(user_id)
        if row.deactivated:
            raise NotFound("User is deactivated")
        token = new_token(ACCESS_TOKEN_PREFIX)
        async with self._db.write() as txn:
            await self._tokens.add_access_token(
                txn,
                token_id=new_row_id(),
                token_hash=hash_token(token),
                user_id=user_id,
                device_id=None,
                created_ts=self._clock.time_ms(),
                valid_until_ms=valid_until_ms,
                refresh_token_id=None,
                puppets_user_id=admin.user_id,
            )
        logger.info("%s logged in as %s", admin.user_id, user_id)
        return token

    async def get_ratelimit(self, user_id: str) -> tuple[int, int] | None:
        await self._row(user_id)
        async with self._db.read() as conn:
            return await self._store.get_ratelimit(conn, user_id)

    async def set_ratelimit(self, user_id: str, per_second: int, burst: int) -> None:
        await self._row(user_id)
        async with self._db.write() as txn:
            await self._store.set_ratelimit(txn, user_id, per_second, burst)
        if self._ratelimiter is not None:
            self._ratelimiter.set_override(user_id, per_second, burst)

    async def load_ratelimit_overrides(self) -> None:
        """Hands every stored override to the rate limiter (at startup)."""
        if self._ratelimiter is None:
            return
        async with self._db.read() as conn:
            overrides = await self._store.all_ratelimits(conn)
        for user_id, per_second, burst in overrides:
            self._ratelimiter.set_override(user_id, per_second, burst)

    async def delete_ratelimit(self, user_id: str) -> None:
        await self._row(user_id)
        async with self._db.write() as txn:
            await self._store.delete_ratelimit(txn, user_id)
        if self._ratelimiter is not None:
            self._ratelimiter.delete_override(user_id)

    async def account_data(self, user_id: str) -> JsonDict:
        """Every global and per-room account data entry of the user."""
        await self._row(user_id)
        async with self._db.read() as conn:
            rows = await conn.fetch(
                "SELECT room_id, type, content FROM account_data WHERE user_id = $1 "
                "ORDER BY room_id, type",
                user_id,
            )
        global_data: JsonDict = {}
        rooms: dict[str, JsonDict] = {}
        for r in rows:
            content = json.loads(r["content"])
            if r["room_id"] == "":
                global_data[r["type"]] = content
            else:
                rooms.setdefault(r["room_id"], {})[r["type"]] = content
        return {"global": global_data, "rooms": rooms}

    async def pushers(self, user_id: str) -> list[JsonDict]:
        await self._row(user_id)
        return await self._pushers.get_all(Requester(user_id=user_id, device_id=None))

    async def devices(self, user_id: str) -> list[JsonDict]:
        await self._row(user_id)
        return [
            {
                "device_id": d.device_id,
                "display_name": d.display_name,
                "last_seen_ip": d.last_seen_ip,
                "last_seen_ts": d.last_seen_ts,
                "last_seen_user_agent": d.user_agent,
                "user_id": d.user_id,
            }
            for d in await self._devices.list_devices(user_id)
        ]

    async def device(self, user_id: str, device_id: str) -> JsonDict:
        await self._row(user_id)
        d = await self._devices.get_device(user_id, device_id)
        return {
            "device_id": d.device_id,
            "display_name": d.display_name,
            "last_seen_ip": d.last_seen_ip,
            "last_seen_ts": d.last_seen_ts,
            "last_seen_user_agent": d.user_agent,
            "user_id": d.user_id,
        }

    async def set_device_name(self, user_id: str, device_id: str, name: str | None) -> None:
        await self._row(user_id)
        await self._devices.get_device(user_id, device_id)
        await self._devices.set_display_name(user_id, device_id, name)

    async def create_device(self, user_id: str, device_id: str) -> None:
        await self._row(user_id)
        async with self._db.write() as txn:
            await self._devices.create_or_reuse(txn, user_id, device_id, None)
        await self._devices.devices_changed(user_id)

    async def delete_devices(self, user_id: str, device_ids: list[str]) -> None:
        await self._row(user_id)
        await self._devices.delete_devices(user_id, device_ids)


def _opt(body: JsonDict, key: str, kind: type) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, kind):
        raise BadJson(f"'{key}' has the wrong type")
    return value


__all__ = ["USER_ORDER", "UserAdmin", "UserFilter", "user_json"]
