"""Configuration from RONGHE_* environment variables and an optional .env file."""

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values that people paste from examples; production refuses to start with any of them.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "changethis", "secret", "ronghe"})
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RONGHE_", env_file=".env", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("data")
    database_url: str | None = None
    secret_key: SecretStr | None = None
    # Keys the activity chain. Unset: a key generated once into the data directory
    # (`activity_key`). Set it, the same on every host, when hosts do not share that directory.
    activity_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    default_locale: Literal["zh_CN", "en"] = "zh_CN"
    timezone: str = "Asia/Shanghai"
    # Set behind an HTTPS reverse proxy so that cookies carry the Secure flag.
    secure_cookies: bool = False
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    # Login throttling (app/services/accounts/auth.py). After the account's free failures in a
    # row (a pause of the window ends the row), the next try (from any address) waits the delay,
    # doubled with each further failure up to the maximum; a browser that signed in to the
    # account before counts only its own failures. An address (IPv6: its /64) is stopped for
    # the window after its own failures on any accounts, except for such a browser.
    login_window_minutes: int = Field(default=15, ge=1)
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_delay_seconds: int = Field(default=1, ge=1)
    login_max_delay_seconds: int = Field(default=300, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    # The reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: IP addresses
    # or networks, comma-separated. Empty: none, the connecting peer is the client.
    trusted_proxies: str = ""
    # Uploads: the largest file accepted, and the file types allowed (by extension; the
    # content must match the extension).
    upload_max_mb: int = Field(default=50, ge=1, le=2048)
    upload_extensions: str = (
        "pdf,doc,docx,xls,xlsx,ppt,pptx,odt,ods,png,jpg,jpeg,gif,txt,csv,md,zip"
    )
    # Excel imports: unconfirmed previews kept per user (a new one drops the user's oldest),
    # the seconds reading one workbook may take, and how many are read at once (each in a
    # child process on a core of its own; keep one core for the web process).
    import_previews_per_user: int = Field(default=3, ge=1, le=100)
    import_read_seconds: int = Field(default=20, ge=1, le=600)
    import_parallel_reads: int = Field(default=1, ge=1, le=64)
    # Outgoing mail for reminders (the enterprise's SMTP relay). No host: e-mail is skipped.
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    mail_from: str = "ronghe@localhost"
    # Where links in e-mails and IM messages point.
    public_url: str = "http://127.0.0.1:8000"
    # IM robots and webhooks may only be reached at public addresses; these comma-separated
    # host names (or addresses) may be internal too, e.g. "robot.corp.example,10.0.8.20"
    # (never link-local or a cloud metadata service: see app/services/reminders/outbound_url.py).
    outbound_allowed_hosts: str = ""
    # "embedded": the web process runs the reminder scheduler (one leader across processes);
    # "off": run `ronghe scheduler` as its own process instead.
    scheduler: Literal["embedded", "off"] = "embedded"
    # Local hour at which daily digests go out.
    digest_hour: int = Field(default=8, ge=0, le=23)
    # Argon2 parameters are deliberately expensive; tests lower them.
    fast_password_hashing: bool = False

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> "Settings":
        if self.environment == "production" and self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            if value.lower() in PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_LENGTH:
                raise ValueError(
                    "RONGHE_SECRET_KEY is a placeholder or shorter than "
                    f"{MIN_SECRET_LENGTH} characters; set a long random value in production"
                )
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ronghe.db').resolve()}"

    @property
    def allowed_extensions(self) -> frozenset[str]:
        return frozenset(
            e.strip().lower().lstrip(".") for e in self.upload_extensions.split(",") if e.strip()
        )

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @cached_property
    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated once into the data directory."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(value, encoding="utf-8")
        return value
