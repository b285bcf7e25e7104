"""The configuration models, one per section.

Every field has a ``description``: docs/config.md is generated from these
models (``homeserver config-docs``) and a test keeps it in sync.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Resource = Literal["client", "federation", "keys", "media", "admin", "metrics"]
DEFAULT_RESOURCES: tuple[Resource, ...] = ("client", "federation", "keys", "media", "admin")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ListenerConfig(Section):
    bind_address: str = Field(
        "127.0.0.1", description="Address to listen on ('0.0.0.0' or '::' for all)."
    )
    port: int = Field(8008, ge=0, le=65535, description="TCP port (0 picks a free port).")
    tls: bool = Field(False, description="Serve HTTPS on this listener.")
    tls_certificate_path: str | None = Field(
        None, description="PEM certificate chain, required when tls is true."
    )
    tls_private_key_path: str | None = Field(
        None, description="PEM private key, required when tls is true."
    )
    resources: list[Resource] = Field(
        default_factory=lambda: list(DEFAULT_RESOURCES),
        description="Which APIs this listener serves.",
    )

    @model_validator(mode="after")
    def _tls_files(self) -> ListenerConfig:
        if self.tls and not (self.tls_certificate_path and self.tls_private_key_path):
            raise ValueError("tls: true needs tls_certificate_path and tls_private_key_path")
        return self


class DatabaseConfig(Section):
    url: str = Field(
        "sqlite:///data/homeserver.db",
        description=(
            "Where the data lives: 'sqlite:///relative/path.db', 'sqlite:////absolute/path.db' "
            "or a PostgreSQL DSN 'postgresql://user:password@host:5432/dbname'. SQLite runs as "
            "a single process; use PostgreSQL for workers."
        ),
    )
    readers: int = Field(4, ge=1, le=64, description="SQLite reader connections.")
    pool_min: int = Field(2, ge=1, description="PostgreSQL pool: minimum connections.")
    pool_max: int = Field(10, ge=1, description="PostgreSQL pool: maximum connections.")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        # The forms storage/db/open.py opens; anything else would fail only at start-up.
        if v.startswith(("postgresql://", "postgres://")):
            return v
        scheme, sep, _ = v.partition("://")
        if sep and scheme != "sqlite":
            raise ValueError(
                f"unsupported database {scheme!r}: use 'sqlite:///path/to/file.db' or "
                "'postgresql://user:password@host:5432/dbname'"
            )
        if v.startswith("sqlite:") and not v.startswith("sqlite:///"):
            raise ValueError(
                "a SQLite URL is 'sqlite:///relative/path.db' or 'sqlite:////absolute/path.db'"
            )
        path = v.removeprefix("sqlite:///").split("?", 1)[0]
        if path in ("", ":memory:"):
            raise ValueError("SQLite needs a database file (the data must outlive the process)")
        return v


class RateLimit(Section):
    per_second: float = Field(description="Tokens added per second.", gt=0)
    burst: int = Field(description="Bucket size: how many requests may come at once.", ge=1)


class RateLimitsConfig(Section):
    enabled: bool = Field(
        True, description="Rate-limit clients (admins and appservices are exempt)."
    )
    login: RateLimit = Field(
        default_factory=lambda: RateLimit(per_second=0.17, burst=5),
        description="Login attempts, per IP address and per account.",
    )
    registration: RateLimit = Field(
        default_factory=lambda: RateLimit(per_second=0.17, burst=5),
        description="Registrations, per IP address.",
    )
    message: RateLimit = Field(
        default_factory=lambda: RateLimit(per_second=10, burst=50),
        description="Events sent, per user.",
    )


class RegistrationConfig(Section):
    enabled: bool = Field(False, description="Allow anyone to register through /register.")
    require_token: bool = Field(
        False,
        description="When registration is enabled, require an m.login.registration_token.",
    )
    allow_guests: bool = Field(False, description="Allow guest accounts (kind=guest).")
    shared_secret: str | None = Field(
        None,
        description=(
            "Secret for /_synapse/admin/v1/register (shared-secret registration used by admin "
            "tools and Complement). Unset disables that endpoint."
        ),
    )
    username_min_length: int = Field(1, ge=1, description="Shortest allowed localpart.")
    password_min_length: int = Field(8, ge=0, description="Shortest allowed password.")


class AuthConfig(Section):
    access_token_lifetime_ms: int | None = Field(
        None,
        ge=1000,
        description=(
            "When set, clients that ask for refresh tokens get access tokens expiring after "
            "this many ms. Unset: access tokens never expire."
        ),
    )
    refresh_token_lifetime_ms: int | None = Field(
        None, ge=1000, description="Lifetime of refresh tokens; unset: no expiry."
    )
    login_token_lifetime_ms: int = Field(
        120_000, ge=1000, description="Lifetime of m.login.token tokens."
    )
    uia_session_lifetime_ms: int = Field(
        600_000, ge=1000, description="How long a user-interactive auth session stays valid."
    )
    password_login: bool = Field(True, description="Offer m.login.password.")
    login_token_enabled: bool = Field(
        False,
        description=(
            "Let a logged-in user get a single-use m.login.token for signing in another device "
            "(POST /login/get_token, the m.get_login_token capability)."
        ),
    )
    argon2_time_cost: int = Field(
        2, ge=1, le=20, description="argon2id passes over memory when hashing a password."
    )
    argon2_memory_kib: int = Field(
        19456, ge=64, description="argon2id memory per password hash, in KiB (OWASP: 19 MiB)."
    )


class SupportContact(Section):
    role: str = Field(
        description="The contact's role, e.g. m.role.admin or m.role.security.",
        min_length=1,
    )
    matrix_id: str | None = Field(None, description="A Matrix user id to contact.")
    email_address: str | None = Field(None, description="An email address to contact.")

    @model_validator(mode="after")
    def _one_way_to_reach(self) -> SupportContact:
        if self.matrix_id is None and self.email_address is None:
            raise ValueError("a support contact needs matrix_id or email_address")
        return self


class SupportConfig(Section):
    contacts: list[SupportContact] = Field(
        default_factory=list, description="Who to contact about the server."
    )
    support_page: str | None = Field(None, description="URL of a support web page.")

    @model_validator(mode="after")
    def _not_empty(self) -> SupportConfig:
        if not self.contacts and self.support_page is None:
            raise ValueError("support needs contacts or support_page")
        return self


class WellKnownConfig(Section):
    client_base_url: str | None = Field(
        None,
        description=(
            "Base URL clients should use, served at /.well-known/matrix/client. Unset: derived "
            "from public_baseurl."
        ),
    )
    server: str | None = Field(
        None,
        description=(
            "Delegated federation server (host:port) served at /.well-known/matrix/server. "
            "Unset: the endpoint answers 404."
        ),
    )
    support: SupportConfig | None = Field(
        None,
        description=(
            "Server support contacts served at /.well-known/matrix/support. Unset: the "
            "endpoint answers 404."
        ),
    )


class UserDirectoryConfig(Section):
    search_all_users: bool = Field(
        False,
        description=(
            "Search every local user. Off: only users sharing a room with the searcher or "
            "joined to a public room."
        ),
    )


class LimitsConfig(Section):
    max_request_body_bytes: int = Field(
        1_048_576,
        ge=1024,
        description="Largest JSON request body accepted (413 M_TOO_LARGE above).",
    )
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="Largest media upload.")
    sync_timeout_cap_ms: int = Field(
        60_000, ge=0, description="Longest long-poll a /sync may hold (larger timeouts are capped)."
    )


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    access_log: bool = Field(True, description="Log one line per HTTP request.")
    format: Literal["text", "json"] = Field("text", description="Log line format.")


class RoomsConfig(Section):
    default_room_version: str = Field(
        "10",
        description=(
            "Room version of new rooms when the client does not ask for one. 10 is what clients "
            "and most servers in the field expect today; 11 and 12 are available."
        ),
    )


class PresenceConfig(Section):
    enabled: bool = Field(
        True,
        description=(
            "Track and share presence (online/unavailable/offline). When false, presence "
            "updates are ignored and /sync carries no presence events."
        ),
    )
    idle_timeout_ms: int = Field(
        300_000,
        ge=1000,
        description="An online user with no activity for this long is shown as unavailable.",
    )


_THUMBNAIL_SIZE_RE = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4}) (crop|scale)$")


def parse_thumbnail_size(spec: str) -> tuple[int, int, str]:
    """``"320x240 scale"`` → ``(320, 240, "scale")``.

    Raises:
        ValueError: not ``WIDTHxHEIGHT crop|scale``.
    """
    match = _THUMBNAIL_SIZE_RE.match(spec)
    if match is None:
        raise ValueError(f"thumbnail size {spec!r} is not 'WIDTHxHEIGHT crop' or '... scale'")
    return int(match.group(1)), int(match.group(2)), match.group(3)


#: Where URL previews never connect by default (as Synapse's list).
DEFAULT_URL_PREVIEW_BLACKLIST = (
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "192.0.0.0/24",
    "169.254.0.0/16",
    "192.88.99.0/24",
    "198.18.0.0/15",
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "::1/128",
    "fe80::/10",
    "fc00::/7",
    "2001:db8::/32",
    "ff00::/8",
    "fec0::/10",
)


class MediaConfig(Section):
    store_path: str | None = Field(
        None,
        description=(
            "Directory holding uploaded files and thumbnails. Default: <data_dir>/media. The "
            "largest upload is limits.max_upload_bytes."
        ),
    )
    user_quota_bytes: int = Field(
        0,
        ge=0,
        description=(
            "Total bytes one user may have uploaded (403 M_RESOURCE_LIMIT_EXCEEDED above). "
            "0: unlimited."
        ),
    )
    thumbnail_sizes: list[str] = Field(
        default_factory=lambda: [
            "32x32 crop",
            "96x96 crop",
            "320x240 scale",
            "640x480 scale",
            "800x600 scale",
        ],
        description=(
            "Thumbnail sizes the server makes, each 'WIDTHxHEIGHT crop' (exactly that size, cut "
            "to fit) or 'WIDTHxHEIGHT scale' (fit inside, keeping the aspect ratio, never "
            "enlarged). A request gets the closest one. Made on first request, cached on disk."
        ),
    )
    max_image_pixels: int = Field(
        32_000_000,
        ge=1,
        description=(
            "Images with more pixels than this are never decoded for thumbnails (protects "
            "against decompression bombs)."
        ),
    )
    allow_legacy_unauthenticated: bool = Field(
        False,
        description=(
            "Serve media uploaded from now on through the unauthenticated "
            "/_matrix/media/v3/download and /thumbnail endpoints too. False (as Synapse's "
            "enable_authenticated_media: true) freezes those endpoints: they serve only media "
            "uploaded while this was true."
        ),
    )
    legacy_endpoints: bool = Field(
        True,
        description=(
            "Answer the unauthenticated /_matrix/media/v3/download and /thumbnail endpoints at "
            "all. False: they always answer 404 M_NOT_FOUND."
        ),
    )
    max_pending_uploads: int = Field(
        5,
        ge=1,
        description=(
            "How many ids reserved with POST /_matrix/media/v1/create a user may hold without "
            "uploading to them (429 M_LIMIT_EXCEEDED above)."
        ),
    )
    unused_expiration_ms: int = Field(
        86_400_000,
        ge=1000,
        description="How long an id reserved with /create waits for its upload.",
    )
    max_download_wait_ms: int = Field(
        20_000,
        ge=0,
        description=(
            "Longest a download of a reserved, not yet uploaded id waits for the upload "
            "(clients' timeout_ms is capped to this) before 504 M_NOT_YET_UPLOADED."
        ),
    )
    url_preview_enabled: bool = Field(
        False,
        description=(
            "URL previews (/preview_url): the server fetches pages users ask about. Off: the "
            "endpoint answers 404 M_UNRECOGNIZED. Review url_preview_ip_range_blacklist first."
        ),
    )
    url_preview_ip_range_blacklist: list[str] = Field(
        default_factory=lambda: list(DEFAULT_URL_PREVIEW_BLACKLIST),
        description=(
            "IP ranges (CIDR) a preview never connects to, checked on the resolved address "
            "of every connection, redirects included (403 M_FORBIDDEN). The default covers "
            "loopback, private, link-local, shared, multicast and documentation ranges."
        ),
    )
    url_preview_ip_range_whitelist: list[str] = Field(
        default_factory=list,
        description=(
            "IP ranges (CIDR) a preview may connect to even when the blacklist covers them."
        ),
    )
    url_preview_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest page or og:image a preview downloads (502 beyond).",
    )
    url_preview_timeout_ms: int = Field(
        10_000,
        ge=100,
        description="Longest a preview's fetch may take, redirects included (502 beyond).",
    )
    url_preview_cache_ms: int = Field(
        3_600_000,
        ge=0,
        description="How long a preview is kept and reused for the same URL.",
    )

    @field_validator("thumbnail_sizes")
    @classmethod
    def _thumbnail_sizes(cls, v: list[str]) -> list[str]:
        for spec in v:
            parse_thumbnail_size(spec)
        return v

    @field_validator("url_preview_ip_range_blacklist", "url_preview_ip_range_whitelist")
    @classmethod
    def _ip_ranges(cls, v: list[str]) -> list[str]:
        for cidr in v:
            ipaddress.ip_network(cidr, strict=False)
        return v


class VoipConfig(Section):
    turn_uris: list[str] = Field(
        default_factory=list,
        description=(
            "TURN server URIs handed to clients by /voip/turnServer, e.g. "
            "'turn:turn.example.org:3478?transport=udp'. Empty: the endpoint answers {}."
        ),
    )
    turn_shared_secret: str | None = Field(
        None,
        description=(
            "coturn's static-auth-secret: credentials are '<expiry>:<user_id>' and "
            "base64(HMAC-SHA1(secret, username)), valid for turn_user_lifetime_ms."
        ),
    )
    turn_username: str | None = Field(
        None, description="Static TURN username, used when turn_shared_secret is unset."
    )
    turn_password: str | None = Field(
        None, description="Static TURN password, used with turn_username."
    )
    turn_user_lifetime_ms: int = Field(
        86_400_000, ge=1000, description="How long shared-secret TURN credentials stay valid."
    )
    turn_allow_guests: bool = Field(True, description="Give TURN credentials to guests too.")


class DelayedEventsConfig(Section):
    max_delay_ms: int = Field(
        86_400_000,
        ge=1,
        description=(
            "Longest delay a client may ask for (MSC4140); longer requests get "
            "400 M_MAX_DELAY_EXCEEDED."
        ),
    )
    max_per_user: int = Field(
        100,
        ge=1,
        description="How many delayed events one user may have scheduled at once (429 above).",
    )


class RtcConfig(Section):
    livekit_service_url: str | None = Field(
        None,
        description=(
            "The LiveKit JWT service (lk-jwt-service) that Element Call uses as its MatrixRTC "
            "transport (MSC4143), advertised in /.well-known/matrix/client and "
            "/rtc/transports. Unset: no transport is advertised."
        ),
    )
    delayed_events: DelayedEventsConfig = Field(
        default_factory=DelayedEventsConfig,
        description="Delayed events (MSC4140), which calls use to leave reliably.",
    )


class RetentionConfig(Section):
    enabled: bool = Field(
        False,
        description=(
            "Enforce message retention: a background job deletes non-state events older than "
            "their room's max_lifetime (m.room.retention state, else default_max_lifetime_ms), "
            "with the media only they referenced. State events and each room's latest event "
            "are always kept."
        ),
    )
    default_max_lifetime_ms: int | None = Field(
        None,
        ge=1,
        description="max_lifetime of rooms without an m.room.retention policy. Unset: keep.",
    )
    allowed_lifetime_min_ms: int | None = Field(
        None,
        ge=1,
        description="A room's max_lifetime below this is raised to it. Unset: no lower bound.",
    )
    allowed_lifetime_max_ms: int | None = Field(
        None,
        ge=1,
        description="A room's max_lifetime above this is lowered to it. Unset: no upper bound.",
    )
    purge_interval_ms: int = Field(3_600_000, ge=1000, description="How often the purge job runs.")


class ServerNoticesConfig(Section):
    system_mxid_localpart: str = Field(
        "_server",
        description=(
            "Localpart of the user that sends server notices (admin API "
            "send_server_notice). Nobody may register it."
        ),
    )
    system_mxid_display_name: str = Field(
        "Server Notices", description="Display name of the server notices user."
    )
    room_name: str = Field("Server Notices", description="Name of each user's notices room.")

    @field_validator("system_mxid_localpart")
    @classmethod
    def _localpart(cls, v: str) -> str:
        from homeserver.core.ids import is_valid_localpart

        if not v or not is_valid_localpart(v):
            raise ValueError("must be a valid user id localpart (a-z, 0-9, '._=-/+')")
        return v


class Config(Section):
    server_name: str = Field(
        "localhost", description="The domain in user ids (@user:server_name). Cannot change later."
    )
    public_baseurl: str | None = Field(
        None, description="The URL clients reach this server at, e.g. https://matrix.example.org/."
    )
    data_dir: str = Field(
        "data", description="Directory for the signing key, media and the SQLite database."
    )
    signing_key_path: str | None = Field(
        None,
        description="Ed25519 signing key file (Synapse's format). Default: <data_dir>/signing.key.",
    )
    listeners: list[ListenerConfig] = Field(
        default_factory=lambda: [ListenerConfig()],
        description="HTTP(S) listeners.",
    )
    database: DatabaseConfig = Field(default_factory=DatabaseConfig, description="Database.")
    registration: RegistrationConfig = Field(
        default_factory=RegistrationConfig,
        description="Account registration.",
    )
    auth: AuthConfig = Field(default_factory=AuthConfig, description="Login and tokens.")
    rate_limits: RateLimitsConfig = Field(
        default_factory=RateLimitsConfig,
        description="Rate limits.",
    )
    well_known: WellKnownConfig = Field(
        default_factory=WellKnownConfig,
        description="/.well-known answers.",
    )
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="Size and time limits.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Logging.")
    rooms: RoomsConfig = Field(default_factory=RoomsConfig, description="Rooms.")
    presence: PresenceConfig = Field(default_factory=PresenceConfig, description="Presence.")
    media: MediaConfig = Field(default_factory=MediaConfig, description="Media repository.")
    voip: VoipConfig = Field(default_factory=VoipConfig, description="1:1 calls: TURN servers.")
    rtc: RtcConfig = Field(
        default_factory=RtcConfig, description="Group calls (MatrixRTC / Element Call)."
    )
    user_directory: UserDirectoryConfig = Field(
        default_factory=UserDirectoryConfig, description="User directory search."
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="Message retention and purging."
    )
    server_notices: ServerNoticesConfig = Field(
        default_factory=ServerNoticesConfig,
        description="Server notices: messages from the server to one user (Synapse's admin API).",
    )
    admins: list[str] = Field(
        default_factory=list,
        description="User ids that are server admins in addition to those flagged in the database.",
    )
    app_service_config_files: list[str] = Field(
        default_factory=list,
        description=(
            "Application service registration files (Synapse's YAML format). An invalid file "
            "stops startup with a message naming the file and the field."
        ),
    )

    @field_validator("server_name")
    @classmethod
    def _server_name(cls, v: str) -> str:
        from homeserver.core.ids import parse_server_name

        parse_server_name(v)
        return v

    @field_validator("rooms")
    @classmethod
    def _room_version(cls, v: RoomsConfig) -> RoomsConfig:
        from homeserver.core.room_versions import SUPPORTED_ROOM_VERSIONS

        if v.default_room_version not in SUPPORTED_ROOM_VERSIONS:
            raise ValueError(f"unsupported room version {v.default_room_version!r}")
        return v
