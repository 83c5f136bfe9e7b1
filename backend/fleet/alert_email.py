"""Alert email over SMTP (aiosmtplib): one message per sweep that raised or cleared alerts.

Configured by ``fleet_alert_email_to`` (recipients) and ``fleet_smtp_*``; the login is the
existing ``GMAIL_USER``/``GMAIL_PASSWORD`` pair, or none for a relay that needs no login. A
failed delivery is a health fact ("smtp" integration), never an exception in the poller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import aiosmtplib

from backend.fleet.alerts import Alert
from hashinsight_contract.fleet import SEVERITY_RANK

if TYPE_CHECKING:
    from backend.core.health import HealthRegistry
    from backend.fleet.settings import FleetSettings

log = logging.getLogger("hashinsight.fleet.email")
HEALTH_NAME = "smtp"


class AlertMailer:
    def __init__(self, settings: FleetSettings, health: HealthRegistry) -> None:
        self.settings = settings
        self.health = health
        self.recipients = [r.strip() for r in settings.fleet_alert_email_to.split(",") if r.strip()]
        self.sender = settings.fleet_alert_email_from or settings.gmail_user or ""
        self.min_rank = SEVERITY_RANK[settings.fleet_alert_email_min_severity]
        self.enabled = bool(self.recipients and settings.fleet_smtp_host and self.sender)
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        if self.enabled:
            target = f"{settings.fleet_smtp_host}:{settings.fleet_smtp_port}"
            health.register(HEALTH_NAME, "smtp", target)

    def notify(self, raised: list[Alert], cleared: list[Alert]) -> None:
        """Send one message about this sweep's alerts in the background (never blocks)."""
        if not self.enabled:
            return
        wanted = [
            ("RAISED", a) for a in raised if SEVERITY_RANK.get(a.severity, 0) >= self.min_rank
        ] + [("CLEARED", a) for a in cleared if SEVERITY_RANK.get(a.severity, 0) >= self.min_rank]
        if not wanted:
            return
        task = asyncio.get_running_loop().create_task(self.send(self.compose(wanted)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def compose(self, items: list[tuple[str, Alert]]) -> EmailMessage:
        message = EmailMessage()
        raised = sum(1 for kind, _ in items if kind == "RAISED")
        cleared = len(items) - raised
        parts = [f"{raised} raised"] if raised else []
        parts += [f"{cleared} cleared"] if cleared else []
        message["Subject"] = f"[HashInsight] fleet alerts: {', '.join(parts)}"
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        lines = [
            f"{kind:<8} {a.severity.upper():<8} {a.miner_id}  {a.rule}: {a.message}"
            for kind, a in items
        ]
        message.set_content("\n".join(lines) + "\n")
        return message

    async def send(self, message: EmailMessage) -> None:
        settings = self.settings
        options: dict[str, Any] = {
            "hostname": settings.fleet_smtp_host,
            "port": settings.fleet_smtp_port,
            "timeout": settings.fleet_smtp_timeout_s,
            "use_tls": settings.fleet_smtp_tls == "tls",
            "start_tls": settings.fleet_smtp_tls == "starttls",
        }
        if settings.gmail_user and settings.gmail_password is not None:
            options["username"] = settings.gmail_user
            options["password"] = settings.gmail_password.get_secret_value()
        started = time.monotonic()
        try:
            await aiosmtplib.send(message, **options)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # exception text never carries the password; keep it short anyway
            self.health.failure(HEALTH_NAME, f"{type(exc).__name__}: {exc}"[:200])
            log.warning("alert email not delivered: %s", type(exc).__name__)
            return
        self.sent += 1
        self.health.success(HEALTH_NAME, (time.monotonic() - started) * 1000)

    async def aclose(self, wait_s: float = 3.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=wait_s)
        for task in list(self._tasks):
            task.cancel()
