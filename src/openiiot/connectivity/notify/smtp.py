"""Email channel over SMTP (standard library): a bilingual plain-text message per notification."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from openiiot.domain.errors import ConfigurationError, DeliveryFailed
from openiiot.domain.notifications import ChannelKind, NotificationMessage
from openiiot.settings import Settings

log = logging.getLogger(__name__)


class SmtpChannel:
    """Sends notifications as email through one SMTP relay; one connection per message."""

    kind = ChannelKind.EMAIL.value

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 15.0,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password = username, password
        self._starttls, self._timeout_s = starttls, timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpChannel:
        """The channel configured by `OPENIIOT_SMTP_*`; ConfigurationError when no host or sender is set."""
        if not settings.smtp_host or not settings.smtp_from:
            raise ConfigurationError("email notifications need OPENIIOT_SMTP_HOST and OPENIIOT_SMTP_FROM")
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )

    def compose(self, message: NotificationMessage, recipients: list[str]) -> EmailMessage:
        """The email for a notification: bilingual subject and plain-text body, UTF-8."""
        email = EmailMessage()
        email["Subject"] = message.subject()
        email["From"] = self._sender
        email["To"] = ", ".join(recipients)
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = make_msgid(idstring=message.delivery_id.replace("-", ""))
        email.set_content(message.text_body(), charset="utf-8")
        return email

    def send(self, message: NotificationMessage, target: Mapping[str, Any]) -> int:
        """Send to every address in `target["to"]`; DeliveryFailed when the relay refuses or is away."""
        recipients = [str(address) for address in target["to"]]
        email = self.compose(message, recipients)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, self._password or "")
                refused = smtp.send_message(email, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryFailed(f"every recipient was refused: {exc.recipients}", retryable=False) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(f"SMTP login failed: {exc.smtp_code}", retryable=False) from exc
        except smtplib.SMTPResponseException as exc:
            # 4xx replies are transient by definition (RFC 5321 §4.2.1), 5xx permanent
            raise DeliveryFailed(
                f"SMTP error {exc.smtp_code}: {exc.smtp_error!r}",
                retryable=exc.smtp_code < 500,
                status_code=exc.smtp_code,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP relay unreachable: {exc}", retryable=True) from exc
        if refused:
            # some recipients took it: retrying would send duplicates to them, so record and move on
            log.warning("SMTP refused some recipients", extra={"refused": sorted(refused)})
        return 250  # the relay accepted the message (RFC 5321 reply code)
