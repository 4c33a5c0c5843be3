"""Notification channels: webhook (HMAC-signed HTTP POST), email over SMTP, and MQTT topics."""
