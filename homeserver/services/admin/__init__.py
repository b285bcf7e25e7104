"""The server admin API's use cases (``/_synapse/admin``): accounts, rooms,
server notices. ``build_admin`` wires them over the other services; the
container exposes the result as ``services.admin``.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.config.model import Config
from homeserver.services.accounts.account import AccountService
from homeserver.services.accounts.devices import DeviceService
from homeserver.services.accounts.passwords import PasswordHasher
from homeserver.services.accounts.registration import RegistrationService
from homeserver.services.admin.activity import UserActivity
from homeserver.services.admin.events import EventAdmin
from homeserver.services.admin.media import MediaAdmin
from homeserver.services.admin.notices import ServerNotices
from homeserver.services.admin.redact_user import UserRedaction
from homeserver.services.admin.rooms import RoomAdmin
from homeserver.services.admin.tokens import RegistrationTokenAdmin, ReportAdmin
from homeserver.services.admin.users import UserAdmin
from homeserver.services.clock import Clock
from homeserver.services.media import MediaService
from homeserver.services.profiles import ProfileService
from homeserver.services.push.pushers import PusherService
from homeserver.services.ratelimit import RateLimiter
from homeserver.services.rooms import Rooms
from homeserver.services.tags import TagService
from homeserver.storage.db import Database
from homeserver.storage.stores.directory import DirectoryStore


@dataclass(frozen=True, slots=True)
class Admin:
    users: UserAdmin
    rooms: RoomAdmin
    notices: ServerNotices
    registration_tokens: RegistrationTokenAdmin
    reports: ReportAdmin
    #: None when the app was built without a media repository.
    media: MediaAdmin | None = None
    activity: UserActivity | None = None
    redaction: UserRedaction | None = None
    events: EventAdmin | None = None


def build_admin(
    db: Database,
    clock: Clock,
    config: Config,
    *,
    registration: RegistrationService,
    account: AccountService,
    devices: DeviceService,
    passwords: PasswordHasher,
    profiles: ProfileService,
    pushers: PusherService,
    rooms: Rooms,
    directory_store: DirectoryStore,
    ratelimiter: RateLimiter | None = None,
    media: MediaService | None = None,
    tags: TagService | None = None,
) -> Admin:
    room_admin = RoomAdmin(db, clock, config.server_name, rooms, directory_store)
    return Admin(
        users=UserAdmin(
            db,
            clock,
            config,
            registration,
            account,
            devices,
            passwords,
            profiles,
            pushers,
            rooms,
            ratelimiter,
        ),
        rooms=room_admin,
        notices=ServerNotices(
            db, config.server_name, rooms, registration, config.server_notices, tags
        ),
        registration_tokens=RegistrationTokenAdmin(db),
        reports=ReportAdmin(db, clock, rooms, room_admin),
        media=None if media is None else MediaAdmin(db, media, config.server_name),
        activity=UserActivity(db),
        redaction=UserRedaction(db, clock, rooms),
        events=EventAdmin(db, rooms),
    )
