"""Connection settings for the GUI: defaults, then a config file, then the environment.

Precedence (later wins):

1. built-in defaults (a MariaDB on ``127.0.0.1:3306`` as ``root``, the hub on
   ``http://127.0.0.1:4580/status``, export of ``MOST``);
2. the file named by ``STARSYNC_GUI_CONFIG`` -- TOML when it ends in ``.toml``, INI otherwise,
   with the sections ``[database]``, ``[hub]``, ``[export]`` and ``[gui]`` (see
   ``config/streamlit/gui.toml``). Unknown sections or keys are errors, so a typo never silently
   falls back to a default;
3. ``STARSYNC_GUI_DB_HOST``, ``_PORT``, ``_USER``, ``_PASSWORD``, ``_SOCKET`` and
   ``STARSYNC_HUB_STATUS_URL``.

The GUI's own login password is *not* part of these settings: see :mod:`starsync_gui.auth`.
Settings are re-read on every script run, which is cheap and means an edited file takes effect
without restarting Streamlit.
"""

from __future__ import annotations

import configparser
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

#: Environment variable naming an optional TOML/INI config file.
CONFIG_ENV = "STARSYNC_GUI_CONFIG"


class ConfigError(ValueError):
    """A setting is missing, unknown or malformed; the message names the setting."""


@dataclass(frozen=True)
class DbSettings:
    """How to reach the master's MariaDB."""

    #: Host name or IP; ignored by the driver when ``socket`` is set.
    host: str = "127.0.0.1"
    #: TCP port.
    port: int = 3306
    #: Account the console runs statements as (the DBA's account).
    user: str = "root"
    #: Password of that account; never shown or logged.
    password: str = field(default="", repr=False)
    #: Unix socket path; when non-empty it is used instead of host/port.
    socket: str = ""
    #: Default database selected for the SQL console (empty: none).
    database: str = ""
    #: Seconds to wait for a connection before giving up.
    connect_timeout: int = 5

    def describe(self) -> str:
        """Where the GUI connects, for messages (never includes the password)."""
        where = f"socket {self.socket}" if self.socket else f"{self.host}:{self.port}"
        return f"{self.user}@{where}"


@dataclass(frozen=True)
class HubSettings:
    """Where the hub serves its status JSON."""

    #: URL of the hub's ``/status`` endpoint.
    status_url: str = "http://127.0.0.1:4580/status"
    #: Seconds to wait for the hub to answer.
    timeout: float = 3.0
    #: The hub's ``[hub] http_token``, sent as bearer token when not empty.
    token: str = field(default="", repr=False)


@dataclass(frozen=True)
class ExportSettings:
    """The ``.sql`` export."""

    #: Database exported by default.
    database: str = "MOST"
    #: ``mariadb-dump`` executable (name on ``PATH`` or absolute path).
    mariadb_dump: str = "mariadb-dump"


@dataclass(frozen=True)
class GuiSettings:
    """Behaviour of the console."""

    #: Rows of each result set kept for display; the full count is still reported.
    max_rows: int = 10_000
    #: Entries of the query log shown on the history page.
    history_rows: int = 500


@dataclass(frozen=True)
class Settings:
    """Everything the GUI needs to know, fully resolved."""

    db: DbSettings = field(default_factory=DbSettings)
    hub: HubSettings = field(default_factory=HubSettings)
    export: ExportSettings = field(default_factory=ExportSettings)
    gui: GuiSettings = field(default_factory=GuiSettings)


# Config-file section name -> (Settings attribute, dataclass).
_SECTIONS = {
    "database": ("db", DbSettings),
    "hub": ("hub", HubSettings),
    "export": ("export", ExportSettings),
    "gui": ("gui", GuiSettings),
}

# Environment variable -> (Settings attribute, field name).
_ENV = {
    "STARSYNC_GUI_DB_HOST": ("db", "host"),
    "STARSYNC_GUI_DB_PORT": ("db", "port"),
    "STARSYNC_GUI_DB_USER": ("db", "user"),
    "STARSYNC_GUI_DB_PASSWORD": ("db", "password"),
    "STARSYNC_GUI_DB_SOCKET": ("db", "socket"),
    "STARSYNC_HUB_STATUS_URL": ("hub", "status_url"),
    "STARSYNC_HUB_TOKEN": ("hub", "token"),
}


def _coerce(value: Any, target: type, where: str) -> Any:
    """Convert a file/env value to the field's type, naming ``where`` on failure."""
    if target is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    if target in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = target(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if number < 0:
            raise ConfigError(f"{where}: must not be negative, got {value!r}")
        return number
    raise AssertionError(f"unsupported setting type {target}")  # pragma: no cover


def _field_types(cls: type) -> dict[str, type]:
    # `from __future__ import annotations` turns annotations into strings.
    names = {"str": str, "int": int, "float": float}
    return {f.name: names[f.type] if isinstance(f.type, str) else f.type for f in fields(cls)}


def _apply_section(current: Any, values: Mapping[str, Any], section: str, env_var: str = "") -> Any:
    """Set ``values`` on ``current``; errors name ``[section] key`` or the environment variable."""
    types = _field_types(type(current))
    updates = {}
    for key, value in values.items():
        if key not in types:
            known = ", ".join(sorted(types))
            raise ConfigError(f"[{section}] {key}: unknown setting (known: {known})")
        updates[key] = _coerce(value, types[key], env_var or f"[{section}] {key}")
    return replace(current, **updates)


def read_file(path: Path) -> dict[str, dict[str, Any]]:
    """Parse a TOML (``.toml``) or INI file into ``{section: {key: value}}``."""
    try:
        if path.suffix.lower() == ".toml":
            with path.open("rb") as f:
                data = tomllib.load(f)
        else:
            parser = configparser.ConfigParser(interpolation=None)
            with path.open(encoding="utf-8") as f:
                parser.read_file(f)
            data = {name: dict(parser[name]) for name in parser.sections()}
    except OSError as e:
        raise ConfigError(f"{CONFIG_ENV}={path}: cannot read: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, configparser.Error) as e:
        raise ConfigError(f"{CONFIG_ENV}={path}: cannot parse: {e}") from None
    for name, section in data.items():
        if name not in _SECTIONS:
            known = ", ".join(f"[{s}]" for s in _SECTIONS)
            raise ConfigError(f"{path}: unknown section [{name}] (known: {known})")
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [{name}] must be a table of settings")
    return data


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve settings from defaults, the optional config file and the environment."""
    env = os.environ if environ is None else environ
    settings = Settings()
    path = env.get(CONFIG_ENV, "").strip()
    if path:
        for section, values in read_file(Path(path)).items():
            attr, _ = _SECTIONS[section]
            new = _apply_section(getattr(settings, attr), values, section)
            settings = replace(settings, **{attr: new})
    for var, (attr, name) in _ENV.items():
        if var in env:
            new = _apply_section(getattr(settings, attr), {name: env[var]}, attr, env_var=var)
            settings = replace(settings, **{attr: new})
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Reject settings that cannot work, with the setting named."""
    if not settings.db.socket and not settings.db.host:
        raise ConfigError("database host: empty and no socket given (STARSYNC_GUI_DB_HOST)")
    if not 0 < settings.db.port < 65536:
        raise ConfigError(f"database port: {settings.db.port} is not a TCP port (1-65535)")
    if not settings.db.user:
        raise ConfigError("database user: empty (STARSYNC_GUI_DB_USER)")
    if not settings.hub.status_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"hub status_url: expected an http(s) URL, got {settings.hub.status_url!r}"
            " (STARSYNC_HUB_STATUS_URL)"
        )
    if settings.gui.max_rows < 1:
        raise ConfigError("gui max_rows: must be at least 1")
