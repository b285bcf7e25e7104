"""The service graph, built once per process by explicit constructor injection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from homeserver.config.model import Config
from homeserver.notifier import Notifier
from homeserver.services.account_data import AccountDataService
from homeserver.services.accounts.account import AccountService
from homeserver.services.accounts.devices import DeviceService
from homeserver.services.accounts.login import LoginService
from homeserver.services.accounts.passwords import PasswordHasher
from homeserver.services.accounts.registration import RegistrationService
from homeserver.services.accounts.shared_secret import SharedSecretRegistration
from homeserver.services.accounts.tokens import TokenService
from homeserver.services.accounts.uia import UIAService
from homeserver.services.admin import Admin, build_admin
from homeserver.services.appservice import AppServices
from homeserver.services.appservice.namespaces import AppService
from homeserver.services.appservice.registration import load_registrations
from homeserver.services.appservice.thirdparty import register_protocols
from homeserver.services.clock import Clock
from homeserver.services.e2e.backup import KeyBackupService
from homeserver.services.e2e.cross_signing import CrossSigningService
from homeserver.services.e2e.dehydrated import DehydratedDeviceService
from homeserver.services.e2e.keys import E2EKeyService
from homeserver.services.media import MediaService
from homeserver.services.openid import OpenIdTokens
from homeserver.services.profiles import ProfileService
from homeserver.services.push import PushService
from homeserver.services.ratelimit import RateLimiter
from homeserver.services.requester import Requester
from homeserver.services.retention import RetentionService
from homeserver.services.rooms import Rooms, build_rooms
from homeserver.services.rooms.carry_over import UpgradeCarryOver
from homeserver.services.rooms.delayed import DelayedEvents
from homeserver.services.rooms.directory import DirectoryService
from homeserver.services.rooms.legacy import LegacySync
from homeserver.services.rooms.profile_sync import ProfilePropagator
from homeserver.services.rooms.relations import RelationsService
from homeserver.services.rooms.reports import ReportService
from homeserver.services.rooms.search import SearchService
from homeserver.services.rooms.spaces import SpaceHierarchy
from homeserver.services.rooms.summary import RoomSummaryService
from homeserver.services.rooms.threads import ThreadsService
from homeserver.services.rooms.timestamp import TimestampLookup
from homeserver.services.rooms.upgrade import RoomUpgrader
from homeserver.services.rooms.visibility import HistoryVisibility
from homeserver.services.sync import Sync, build_sync
from homeserver.services.tags import TagService
from homeserver.services.thirdparty import ThirdPartyService
from homeserver.services.user_directory import UserDirectoryService
from homeserver.services.voip import TurnCredentials
from homeserver.storage.db import Database
from homeserver.storage.stores.delayed_events import DelayedEventStore
from homeserver.storage.stores.directory import DirectoryStore
from homeserver.storage.stores.relations import RelationStore
from homeserver.storage.stores.retention import RetentionStore
from homeserver.storage.stores.search import SearchStore

if TYPE_CHECKING:
    from signedjson.types import SigningKey


class TokenAuth(Protocol):
    async def requester_for_token(self, token: str) -> Requester:
        """The requester an access token belongs to.

        Raises:
            UnknownToken: unknown, expired (soft_logout) or revoked token.
        """


@dataclass(slots=True)
class Services:
    config: Config
    clock: Clock
    db: Database
    signing_key: SigningKey
    ratelimiter: RateLimiter
    auth: TokenAuth
    profiles: ProfileService
    account_data: AccountDataService
    passwords: PasswordHasher
    tokens: TokenService
    devices: DeviceService
    login: LoginService
    registration: RegistrationService
    uia: UIAService
    account: AccountService
    shared_secret_registration: SharedSecretRegistration
    notifier: Notifier
    rooms: Rooms
    sync: Sync
    e2e_keys: E2EKeyService
    cross_signing: CrossSigningService
    key_backup: KeyBackupService
    dehydrated_devices: DehydratedDeviceService
    push: PushService
    media: MediaService
    search: SearchService
    relations: RelationsService
    threads: ThreadsService
    directory: DirectoryService
    spaces: SpaceHierarchy
    room_upgrades: RoomUpgrader
    reports: ReportService
    timestamps: TimestampLookup
    admin: Admin
    turn: TurnCredentials
    openid: OpenIdTokens
    delayed_events: DelayedEvents
    retention: RetentionService

    appservices: AppServices

    tags: TagService
    user_directory: UserDirectoryService
    thirdparty: ThirdPartyService
    room_summary: RoomSummaryService
    legacy_sync: LegacySync

    async def close(self) -> None:
        """Stops background work (the app's cleanup context calls this)."""
        await self.appservices.stop()
        await self.push.stop()
        await self.delayed_events.stop()
        await self.retention.stop()


async def build_services(
    config: Config, db: Database, clock: Clock, signing_key: SigningKey
) -> Services:
    """Builds every service over an open, migrated database."""
    # Read the appservice registrations first: an invalid one stops startup
    # (ConfigError naming the file and field) before any background task runs.
    appservice_list = [
        AppService.of(r, config.server_name)
        for r in load_registrations(config.app_service_config_files)
    ]
    ratelimiter = RateLimiter(config.rate_limits, clock)
    passwords = PasswordHasher(
        min_length=config.registration.password_min_length,
        time_cost=config.auth.argon2_time_cost,
        memory_kib=config.auth.argon2_memory_kib,
    )
    tokens = TokenService(db, clock, config)
    devices = DeviceService(db, clock)
    login = LoginService(db, config, passwords, tokens, devices)
    registration = RegistrationService(db, clock, config, passwords)
    rooms, notifier = await build_rooms(config, db, clock, signing_key, ratelimiter)
    account_data = AccountDataService(db, notifier=notifier)
    sync = await build_sync(config, db, clock, notifier, rooms, account_data)
    e2e_keys = E2EKeyService(db, clock, config.server_name, sync.streams.device_lists, notifier)
    # A deleted device takes its keys with it, in the same transaction.
    devices.deletion_hooks.append(e2e_keys.delete_device_keys)
    sync.sync.key_state = e2e_keys.sync_key_state
    devices.change_hooks.append(sync.device_lists.devices_changed)
    dehydrated_devices = DehydratedDeviceService(db, devices, e2e_keys, sync.streams.to_device)
    # Deleting the dehydrated device (through /devices too) forgets it and its inbox.
    devices.deletion_hooks.append(dehydrated_devices.on_devices_deleted)
    push = PushService(db, rooms.cache, clock, config.server_name, notifier)
    devices.deletion_hooks.append(push.pushers.on_devices_deleted)
    # Push rules run after an event commits and before /sync wakes (same-sync
    # counts); the persister runs its after-commit hooks there.
    rooms.persister.in_transaction.append(push.actions.write_in)
    rooms.persister.after_commit.append(push.actions.after_commit)
    sync.sections.push_counts_many = push.push_counts_many
    sync.sync.push_rules = push.rules.get_all
    sync.sections.thread_counts_many = push.thread_counts_many
    await push.start()
    media = MediaService(db, clock, config)
    await media.setup()
    relation_store = RelationStore()
    history = HistoryVisibility(db, rooms.state_store, rooms.cache)
    relations = RelationsService(
        db, relation_store, rooms.events_store, rooms.cache, history, rooms.read
    )
    # Every served event gets its bundled aggregations; new relations are checked.
    rooms.read.bundler = relations.bundle_aggregations
    relations.remember_children(rooms.persister.event_stream)
    rooms.send.message_checks.append(relations.check_new_relation)
    search = SearchService(
        db, SearchStore(), rooms.events_store, rooms.state_store, rooms.cache, rooms.read
    )
    # The search index follows every committed event (and redaction).
    rooms.persister.in_transaction.append(search.index_in)
    directory_store = DirectoryStore()
    directory = DirectoryService(db, rooms, clock, config.server_name, directory_store)
    profiles = ProfileService(db, config)
    # A new displayname or avatar is sent to every room the user is joined to.
    profiles.on_profile_changed.append(ProfilePropagator(db, rooms).on_profile_changed)
    account = AccountService(db, passwords, devices)
    tags = TagService(account_data)
    # A local user newly joined to an upgraded room keeps their push rules,
    # tags and m.direct entry of the old room.
    carry_over = UpgradeCarryOver(rooms.cache, push.rules, tags, account_data, config.server_name)
    rooms.persister.in_transaction.append(carry_over.note_joins)
    rooms.persister.after_commit.append(carry_over.after_commit)
    admin = build_admin(
        db,
        clock,
        config,
        registration=registration,
        account=account,
        devices=devices,
        passwords=passwords,
        profiles=profiles,
        pushers=push.pushers,
        rooms=rooms,
        directory_store=directory_store,
        ratelimiter=ratelimiter,
        media=media,
        tags=tags,
    )
    await admin.users.load_ratelimit_overrides()
    delayed_events = DelayedEvents(
        db, DelayedEventStore(), rooms.send, clock, config.rtc.delayed_events
    )
    # Newer state set by someone else cancels a pending delayed state event (MSC4140).
    rooms.persister.after_commit.append(delayed_events.on_persisted)
    await delayed_events.start()
    retention = RetentionService(
        db,
        RetentionStore(),
        rooms.cache,
        media.files,
        clock,
        config.retention,
        config.server_name,
    )
    await retention.start()
    appservices = AppServices(db, clock, config, appservice_list, rooms, registration, login)
    # Registering a user in an appservice's exclusive namespace is refused.
    registration.username_checks.append(appservices.check_not_exclusive)
    # So is an alias in an appservice's exclusive namespace (createRoom, directory).
    rooms.create.alias_checks.append(appservices.check_alias)
    directory.alias_checks.append(appservices.check_alias)
    # Appservice feeds follow the events stream; the hook only wakes them.
    rooms.persister.after_commit.append(appservices.sender.on_persisted)
    appservices.attach_ephemeral(notifier, sync.typing, sync.presence, sync.streams)
    if appservices.ephemeral is not None:
        appservices.ephemeral.otk_counts = e2e_keys.otk_counts
        appservices.ephemeral.fallback_key_types = e2e_keys.unused_fallback_key_types
        e2e_keys.key_count_listeners.append(appservices.ephemeral.on_key_counts)
    await appservices.start()
    # Unknown local aliases are asked of the appservices (rooms on demand).
    rooms.membership.alias_resolvers.append(appservices.queries.query_alias)
    directory.alias_resolvers.append(appservices.queries.query_alias)
    # Unknown local users in a users namespace likewise (profile lookups, invites).
    profiles.user_resolvers.append(appservices.queries.query_user)
    rooms.membership.user_resolvers.append(appservices.queries.query_user)
    thirdparty = ThirdPartyService()
    await register_protocols(thirdparty, appservices.queries)
    user_directory = UserDirectoryService(db, config, clock)
    # The directory's set of public rooms follows join rule changes.
    rooms.persister.after_commit.append(user_directory.on_persisted)
    return Services(
        config=config,
        clock=clock,
        db=db,
        signing_key=signing_key,
        ratelimiter=ratelimiter,
        auth=tokens,
        profiles=profiles,
        account_data=account_data,
        passwords=passwords,
        tokens=tokens,
        devices=devices,
        login=login,
        registration=registration,
        uia=UIAService(db, clock, config, login),
        account=account,
        shared_secret_registration=SharedSecretRegistration(db, clock, config, registration, login),
        notifier=notifier,
        rooms=rooms,
        sync=sync,
        e2e_keys=e2e_keys,
        cross_signing=CrossSigningService(db, clock, e2e_keys),
        key_backup=KeyBackupService(db),
        dehydrated_devices=dehydrated_devices,
        push=push,
        media=media,
        search=search,
        relations=relations,
        threads=ThreadsService(db, relation_store, rooms.cache, history, rooms.read),
        directory=directory,
        spaces=SpaceHierarchy(rooms),
        room_upgrades=RoomUpgrader(db, rooms, directory, directory_store),
        reports=ReportService(db, rooms, clock, directory_store),
        timestamps=TimestampLookup(db, rooms, directory_store),
        appservices=appservices,
        admin=admin,
        turn=TurnCredentials(config.voip, clock),
        openid=OpenIdTokens(db, clock),
        delayed_events=delayed_events,
        retention=retention,
        tags=tags,
        user_directory=user_directory,
        thirdparty=thirdparty,
        room_summary=RoomSummaryService(rooms, directory),
        legacy_sync=LegacySync(
            db,
            rooms,
            sync,
            directory,
            account_data,
            notifier,
            timeout_cap_ms=config.limits.sync_timeout_cap_ms,
        ),
    )
