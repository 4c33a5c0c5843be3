"""Mosquitto 2 dynamic security: device clients, roles and ACLs through `$CONTROL/dynamic-security/v1`.

Production mode (OPENIIOT_MQTT_URL=mqtt://user:pass@host:port) hands authentication to Mosquitto. The
platform keeps one broker client per device, with the same contract as the embedded broker
(docs/device-api.md): username = device id, password = access token. Each device client has its own role
`openiiot-device-{id}` whose ACLs allow only the device's topics; the platform's own user (the one in the
URL, which must hold dynsec's `admin` role) gets the role `openiiot-service`.

The platform stores only token digests (decision 0001), so a client's password can be set only when the
plaintext token exists: at creation and rotation. `sync` repairs roles, ACLs, role membership and the
disabled flag, deletes stray device clients, and reports devices whose client is missing: their token must
be rotated (decision 0014).
"""

from __future__ import annotations

import itertools
import logging
import random
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from openiiot.connectivity.mqtt.consumer import ReconnectBackoff
from openiiot.connectivity.mqtt.topics import PREFIX
from openiiot.domain.errors import ConfigurationError, Overloaded

log = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = "$CONTROL/dynamic-security/v1/response"
SERVICE_ROLE = "openiiot-service"
DEVICE_ROLE_PREFIX = "openiiot-device-"
DEVICE_TEXTNAME = "openiiot device"  # marks the clients this platform owns (sync never touches others)
_BATCH = 20  # commands per request: the broker does nothing else while it runs them (decision 0014)
_PAGE = 1000
PLUGIN_HINT = (
    "load the plugin in mosquitto.conf: `plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so` "
    "and `plugin_opt_config_file /var/lib/mosquitto/dynamic-security.json` (create it with "
    "`mosquitto_ctrl dynsec init <file> <admin-user>`)"
)


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """The parts of OPENIIOT_MQTT_URL."""

    host: str
    port: int
    username: str
    password: str
    tls: bool = False

    @property
    def address(self) -> str:
        """host:port, for messages."""
        return f"{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerUrl:
    """Parse `mqtt://user:pass@host:port` (or `mqtts://`); ConfigurationError saying what is wrong."""
    hint = "set OPENIIOT_MQTT_URL=mqtt://USER:PASSWORD@HOST:PORT (the broker's dynsec admin user)"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"OPENIIOT_MQTT_URL is not a valid URL ({exc}); {hint}") from exc
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ConfigurationError(
            f"OPENIIOT_MQTT_URL has scheme {parts.scheme or '(none)'!r}; use mqtt:// or mqtts://; {hint}"
        )
    if not parts.hostname:
        raise ConfigurationError(f"OPENIIOT_MQTT_URL names no host; {hint}")
    if not parts.username or parts.password is None:
        raise ConfigurationError(
            f"OPENIIOT_MQTT_URL has no user and password; the platform needs them to manage device "
            f"clients; {hint}"
        )
    tls = parts.scheme in ("mqtts", "ssl")
    return BrokerUrl(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        username=unquote(parts.username),
        password=unquote(parts.password),
        tls=tls,
    )


def device_role(device_id: str) -> str:
    """The dynsec role of one device."""
    return DEVICE_ROLE_PREFIX + device_id


def device_acls(device_id: str) -> list[dict[str, Any]]:
    """What one device may do: the topics of docs/device-api.md under its own id, nothing else."""
    base = f"{PREFIX}/{device_id}"
    return [
        {"acltype": "publishClientSend", "topic": f"{base}/telemetry", "allow": True},
        {"acltype": "publishClientSend", "topic": f"{base}/attributes", "allow": True},
        {"acltype": "publishClientSend", "topic": f"{base}/rpc/response/+", "allow": True},
        # as a gateway, for its own child devices (the platform refuses names that are not its children)
        *(
            {"acltype": "publishClientSend", "topic": f"{base}/gateway/{leaf}", "allow": True}
            for leaf in (
                "connect",
                "disconnect",
                "telemetry",
                "attributes",
                "rpc/response",
                "attributes/request",
            )
        ),
        {"acltype": "subscribePattern", "topic": f"{base}/#", "allow": True},
        {"acltype": "publishClientReceive", "topic": f"{base}/#", "allow": True},
    ]


def service_acls() -> list[dict[str, Any]]:
    """What the platform's own clients need: every device topic, its `$platform/` topics, the broker log."""
    acls = []
    for topic in ("#", "$platform/#"):
        for acltype in ("publishClientSend", "publishClientReceive", "subscribePattern"):
            acls.append({"acltype": acltype, "topic": topic, "allow": True})
    # the broker's log (`log_dest topic`): device sessions opening and closing (session_log.py)
    for acltype in ("publishClientReceive", "subscribePattern"):
        acls.append({"acltype": acltype, "topic": "$SYS/broker/log/#", "allow": True})
    return acls


def _acl_key(acl: dict[str, Any]) -> tuple[str, str, bool]:
    return (str(acl["acltype"]), str(acl["topic"]), bool(acl.get("allow", False)))


class DynsecError(Exception):
    """The plugin refused a command; `error` is its message (e.g. "Client not found")."""

    def __init__(self, command: str, error: str) -> None:
        super().__init__(f"{command}: {error}")
        self.command = command
        self.error = error


class DynsecClient:
    """Request/response over `$CONTROL/dynamic-security/v1` with paho; one request in flight at a time.

    After a lost connection it reconnects with the ingest consumer's jittered exponential backoff, so the
    admin clients of many API processes do not hit a restarted broker in step. The cap is short because a
    device change waits up to `timeout_s` for the connection before answering 503.
    """

    RECONNECT_MIN_S = 0.1  # the plugin kicks us once at first start (a role change of our own user)
    RECONNECT_MAX_S = 2.0

    def __init__(
        self,
        url: BrokerUrl,
        *,
        timeout_s: float = 5.0,
        client_id: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self._timeout_s = timeout_s
        self._client_id = client_id or f"openiiot-dynsec-{secrets.token_hex(6)}"
        self.backoff = ReconnectBackoff(self.RECONNECT_MIN_S, self.RECONNECT_MAX_S, rng=rng)
        self.reconnect_delay_s: float | None = None  # the wait before the pending reconnect attempt
        self._client: mqtt.Client | None = None
        self._request_lock = threading.Lock()
        self._state = threading.Condition()
        self._responses: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._connected = threading.Event()
        self._connack: Any = None
        self._suback: list[Any] | None = None

    # -- connection ------------------------------------------------------------------------------

    def connect(self) -> None:
        """Log in and subscribe to the responses; ConfigurationError saying what to fix otherwise."""
        url = self.url
        where = f"the MQTT broker at {url.address} (OPENIIOT_MQTT_URL)"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id, clean_session=True)
        client.username_pw_set(url.username, url.password)
        if url.tls:
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        try:
            client.connect(url.host, url.port, keepalive=30)
        except (TimeoutError, OSError) as exc:
            raise ConfigurationError(
                f"cannot reach {where}: {exc}; check host and port and that Mosquitto runs"
            ) from exc
        client.loop_start()
        self._client = client
        if not self._connected.wait(self._timeout_s):
            self.close()
            raise ConfigurationError(f"{where} did not answer the MQTT CONNECT within {self._timeout_s} s")
        reason = self._connack
        if reason is not None and reason.is_failure:
            self.close()
            raise ConfigurationError(
                f"{where} refused user {url.username!r}: {reason}; check the user and password in "
                "OPENIIOT_MQTT_URL (it must be a dynamic-security client with the `admin` role)"
            )
        with self._state:
            if not self._state.wait_for(lambda: self._suback is not None, self._timeout_s):
                self.close()
                raise ConfigurationError(f"{where} did not acknowledge a SUBSCRIBE")
        assert self._suback is not None
        if any(getattr(code, "is_failure", False) for code in self._suback):
            self.close()
            raise ConfigurationError(
                f"user {url.username!r} may not use the dynamic-security API on {url.address}; "
                f"give it the `admin` role (`mosquitto_ctrl ... dynsec addClientRole {url.username} admin`)"
                f" or {PLUGIN_HINT}"
            )
        try:
            self.request([{"command": "getDefaultACLAccess"}])
        except TimeoutError as exc:
            self.close()
            raise ConfigurationError(
                f"the dynamic-security plugin does not answer on {url.address} "
                f"({CONTROL_TOPIC}); {PLUGIN_HINT}"
            ) from exc

    def close(self) -> None:
        """Disconnect."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
        self._connected.clear()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connack = reason
        if not reason.is_failure:
            self.backoff.reset()
            # also after a reconnect: the plugin disconnects a client whose roles change, ours included
            with self._state:
                self._suback = None
            client.subscribe(RESPONSE_TOPIC, qos=1)
        self._connected.set()

    def _on_disconnect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        self._schedule_reconnect(client)
        if self._client is not None:
            # expected once at first start: the plugin disconnects a client whose roles change
            log.info(
                "dynamic-security client disconnected; reconnecting",
                extra={"reason": str(reason), "delay_s": self.reconnect_delay_s},
            )

    def _on_connect_fail(self, client: mqtt.Client, _u: Any) -> None:
        self._schedule_reconnect(client)

    def _schedule_reconnect(self, client: mqtt.Client) -> None:
        # both paho bounds set to our delay: paho then waits exactly it (see consumer.py)
        self.reconnect_delay_s = self.backoff.next_delay_s()
        client.reconnect_delay_set(self.reconnect_delay_s, self.reconnect_delay_s)  # type: ignore[arg-type]

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        with self._state:
            self._suback = list(reasons)
            self._state.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = orjson.loads(msg.payload)
        except orjson.JSONDecodeError:
            return
        with self._state:
            for response in body.get("responses", []):
                correlation = response.get("correlationData")
                if correlation is not None and str(correlation).startswith(self._client_id):
                    self._responses[str(correlation)] = response
            self._state.notify_all()

    # -- requests --------------------------------------------------------------------------------

    def request(self, commands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send commands in one message; their responses in order (each with "error" when refused).

        TimeoutError when the plugin does not answer; Overloaded when the broker connection is down.
        """
        client = self._client
        if client is not None and not self.wait_ready(self._timeout_s):
            client = None
        if client is None:
            raise Overloaded(f"the MQTT broker at {self.url.address} is not connected; retry shortly")
        with self._request_lock:
            tagged = []
            for command in commands:
                # every admin connection receives every response: the tag must be unique to this client
                tagged.append({**command, "correlationData": f"{self._client_id}-{next(self._ids)}"})
            wanted = [c["correlationData"] for c in tagged]
            client.publish(CONTROL_TOPIC, orjson.dumps({"commands": tagged}), qos=1)
            with self._state:
                got = self._state.wait_for(lambda: all(w in self._responses for w in wanted), self._timeout_s)
                if not got:
                    for w in wanted:
                        self._responses.pop(w, None)
                    raise TimeoutError(f"no answer from the dynamic-security plugin on {self.url.address}")
                return [self._responses.pop(w) for w in wanted]

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait until connected and subscribed to the responses (after a kick, paho reconnects)."""
        if not self._connected.wait(timeout_s):
            return False
        with self._state:
            return self._state.wait_for(
                lambda: self._suback is not None and self._connected.is_set(), timeout_s
            )

    def run_kicking(self, command: str, **args: Any) -> None:
        """A command that makes the plugin disconnect us (a role change of our own user).

        The answer may be lost with the connection, or be "Internal error" (Mosquitto 2.0 answers on the
        kicked connection), so wait for the reconnect instead; the caller checks the result.
        """
        try:
            self.run(command, **args)
        except (TimeoutError, DynsecError):
            if not self.wait_ready(self._timeout_s * 2):
                raise

    def run(self, command: str, *, tolerate: Iterable[str] = (), **args: Any) -> dict[str, Any]:
        """One command; its `data` (empty when none). DynsecError unless its error is in `tolerate`."""
        response = self.request([{"command": command, **args}])[0]
        error = response.get("error")
        if error and error not in tolerate:
            raise DynsecError(command, str(error))
        data: dict[str, Any] = response.get("data") or {}
        return data

    def run_all(self, commands: Sequence[dict[str, Any]], tolerate: Iterable[str] = ()) -> None:
        """Many commands in batches; DynsecError for the first refusal not in `tolerate`."""
        allowed = set(tolerate)
        for start in range(0, len(commands), _BATCH):
            for response in self.request(commands[start : start + _BATCH]):
                error = response.get("error")
                if error and error not in allowed:
                    raise DynsecError(str(response.get("command")), str(error))

    def list_all(self, command: str, key: str) -> list[dict[str, Any]]:
        """Every client or role (`listClients`/`clients`, `listRoles`/`roles`), verbose, page by page."""
        items: list[dict[str, Any]] = []
        while True:
            data = self.run(command, verbose=True, count=_PAGE, offset=len(items))
            page = data.get(key, [])
            items.extend(page)
            if len(page) < _PAGE or len(items) >= int(data.get("totalCount", 0)):
                return items


_CLIENT_EXISTS = ("Client already exists",)
_ROLE_EXISTS = ("Role already exists",)
_NOT_FOUND = ("Client not found", "Role not found")


def _device_commands(device_id: str, token: str, disabled: bool) -> list[dict[str, Any]]:
    """Create-or-update one device client, its role and ACLs (idempotent when sent again)."""
    role = device_role(device_id)
    return [
        {
            "command": "createRole",
            "rolename": role,
            "textname": DEVICE_TEXTNAME,
            "acls": device_acls(device_id),
        },
        {
            "command": "createClient",
            "username": device_id,
            "password": token,
            "textname": DEVICE_TEXTNAME,
            "roles": [{"rolename": role}],
        },
        # an existing client (rotation): new password, exactly its own role; changing the roles also
        # disconnects sessions opened with the old token
        {
            "command": "modifyClient",
            "username": device_id,
            "password": token,
            "textname": DEVICE_TEXTNAME,
            "roles": [{"rolename": role}],
            "groups": [],
        },
        {"command": "disableClient" if disabled else "enableClient", "username": device_id},
    ]


@dataclass(slots=True)
class SyncReport:
    """What `DynsecAccounts.sync` found and changed."""

    checked: int = 0
    repaired: list[str] = field(default_factory=list)  # "device: what was fixed"
    deleted: list[str] = field(default_factory=list)  # stray client or role names
    missing_password: list[str] = field(default_factory=list)  # device ids to rotate
    service_role_fixed: bool = False

    @property
    def changed(self) -> bool:
        """Whether anything was changed on the broker."""
        return bool(self.repaired or self.deleted or self.service_role_fixed)


class DynsecAccounts:
    """The broker-accounts port of the device services, on Mosquitto's dynamic-security plugin.

    Created unconnected (build_platform); `start` connects and checks the configuration, so a bad URL,
    an unreachable broker, wrong credentials and a missing plugin each fail with their own message.
    """

    def __init__(self, url: BrokerUrl, *, timeout_s: float = 5.0) -> None:
        self.url = url
        self.client = DynsecClient(url, timeout_s=timeout_s)

    def start(self) -> None:
        """Connect and give the platform's own user the service role."""
        self.client.connect()
        self.ensure_service_role()

    def stop(self) -> None:
        """Disconnect."""
        self.client.close()

    def ensure_service_role(self) -> bool:
        """Create or repair `openiiot-service` and attach it to the platform's user; True if changed."""
        changed = self._ensure_role(SERVICE_ROLE, "openiiot platform services", service_acls())
        client = self.client.run("getClient", username=self.url.username).get("client", {})
        if SERVICE_ROLE not in {r.get("rolename") for r in client.get("roles", [])}:
            self.client.run_kicking(
                "addClientRole", username=self.url.username, rolename=SERVICE_ROLE, priority=10
            )
            client = self.client.run("getClient", username=self.url.username).get("client", {})
            if SERVICE_ROLE not in {r.get("rolename") for r in client.get("roles", [])}:
                raise ConfigurationError(
                    f"could not give user {self.url.username!r} the role {SERVICE_ROLE} on {self.url.address}"
                )
            changed = True
        return changed

    def _ensure_role(self, rolename: str, textname: str, acls: list[dict[str, Any]]) -> bool:
        data = self.client.run("getRole", tolerate=("Role not found",), rolename=rolename)
        role = data.get("role")
        if role is None:
            self.client.run("createRole", rolename=rolename, textname=textname, acls=acls)
            return True
        return self._fix_acls(rolename, role.get("acls", []), acls)

    def _fix_acls(self, rolename: str, have: list[dict[str, Any]], want: list[dict[str, Any]]) -> bool:
        have_keys = {_acl_key(a) for a in have}
        want_keys = {_acl_key(a) for a in want}
        commands: list[dict[str, Any]] = []
        for acltype, topic, _allow in sorted(have_keys - want_keys):
            commands.append(
                {"command": "removeRoleACL", "rolename": rolename, "acltype": acltype, "topic": topic}
            )
        for acltype, topic, allow in sorted(want_keys - have_keys):
            commands.append(
                {
                    "command": "addRoleACL",
                    "rolename": rolename,
                    "acltype": acltype,
                    "topic": topic,
                    "allow": allow,
                }
            )
        if commands:
            # a changed `allow` is a remove then an add of the same (acltype, topic); changing the
            # service role's ACLs disconnects every client holding it, this one included
            try:
                self.client.run_all(commands, tolerate=("ACL not found",))
            except TimeoutError:
                if not self.client.wait_ready(10.0):
                    raise
        return bool(commands)

    # -- the port (services/ports.BrokerAccounts) ------------------------------------------------

    def devices_created(self, devices: Sequence[tuple[str, str, bool]]) -> None:
        """New clients: (device id, plaintext token, disabled) each.

        Two commands per device (role, client), because the plugin rewrites its whole JSON file after
        every command (decision 0014: provisioning slows down as the device count grows).
        """
        commands: list[dict[str, Any]] = []
        for device_id, token, disabled in devices:
            role = device_role(device_id)
            commands.append(
                {
                    "command": "createRole",
                    "rolename": role,
                    "textname": DEVICE_TEXTNAME,
                    "acls": device_acls(device_id),
                }
            )
            commands.append(
                {
                    "command": "createClient",
                    "username": device_id,
                    "password": token,
                    "textname": DEVICE_TEXTNAME,
                    "roles": [{"rolename": role}],
                }
            )
            if disabled:
                commands.append({"command": "disableClient", "username": device_id})
        self._checked(commands, tolerate=())

    def device_credentials_set(self, devices: Sequence[tuple[str, str, bool]]) -> None:
        """Create or update clients: (device id, plaintext token, disabled) each (rotation)."""
        commands = [c for device in devices for c in _device_commands(*device)]
        self._checked(commands, tolerate=_CLIENT_EXISTS + _ROLE_EXISTS)

    def device_disabled(self, device_id: str, disabled: bool) -> None:
        """Refuse (and disconnect) or allow the device's client again."""
        command = "disableClient" if disabled else "enableClient"
        self._checked([{"command": command, "username": device_id}], tolerate=("Client not found",))

    def device_deleted(self, device_id: str) -> None:
        """Remove the device's client and role."""
        self._checked(
            [
                {"command": "deleteClient", "username": device_id},
                {"command": "deleteRole", "rolename": device_role(device_id)},
            ],
            tolerate=_NOT_FOUND,
        )

    def _checked(self, commands: list[dict[str, Any]], tolerate: Sequence[str]) -> None:
        try:
            self.client.run_all(commands, tolerate=tolerate)
        except TimeoutError as exc:
            raise Overloaded(f"{exc}; the device was not changed, retry shortly") from exc
        except DynsecError as exc:
            raise Overloaded(f"the MQTT broker refused {exc}; the device was not changed") from exc

    # -- reconciliation --------------------------------------------------------------------------

    def sync(self, devices: Iterable[tuple[str, bool]], *, dry_run: bool = False) -> SyncReport:
        """Make the broker match the device table: (device id, disabled) for every device.

        Repairs each device's role, ACLs, role membership and disabled flag; deletes device clients and
        roles (recognised by their textname/prefix) whose device no longer exists; reports devices that
        have no client, whose password cannot be restored: rotate their tokens.
        """
        report = SyncReport()
        wanted = dict(devices)
        clients = {c["username"]: c for c in self.client.list_all("listClients", "clients")}
        roles = {r["rolename"]: r for r in self.client.list_all("listRoles", "roles")}
        commands: list[dict[str, Any]] = []
        if not dry_run:
            report.service_role_fixed = self.ensure_service_role()
        for device_id, disabled in sorted(wanted.items()):
            report.checked += 1
            rolename = device_role(device_id)
            role = roles.get(rolename)
            if role is None:
                report.repaired.append(f"{device_id}: role {rolename} created")
                commands.append(
                    {
                        "command": "createRole",
                        "rolename": rolename,
                        "textname": DEVICE_TEXTNAME,
                        "acls": device_acls(device_id),
                    }
                )
            else:
                have = {_acl_key(a) for a in role.get("acls", [])}
                want = {_acl_key(a) for a in device_acls(device_id)}
                if have != want:
                    report.repaired.append(f"{device_id}: ACLs of {rolename} restored")
                    for acltype, topic, _ in sorted(have - want):
                        commands.append(
                            {
                                "command": "removeRoleACL",
                                "rolename": rolename,
                                "acltype": acltype,
                                "topic": topic,
                            }
                        )
                    for acltype, topic, allow in sorted(want - have):
                        commands.append(
                            {
                                "command": "addRoleACL",
                                "rolename": rolename,
                                "acltype": acltype,
                                "topic": topic,
                                "allow": allow,
                            }
                        )
            client = clients.get(device_id)
            if client is None:
                report.missing_password.append(device_id)
                continue
            client_roles = {r.get("rolename") for r in client.get("roles", [])}
            if rolename not in client_roles:
                report.repaired.append(f"{device_id}: role {rolename} given back")
                commands.append({"command": "addClientRole", "username": device_id, "rolename": rolename})
            for extra in sorted(str(r) for r in client_roles - {rolename}):
                report.repaired.append(f"{device_id}: foreign role {extra} removed")
                commands.append({"command": "removeClientRole", "username": device_id, "rolename": extra})
            if client.get("groups"):
                for group in client["groups"]:
                    name = group.get("groupname")
                    report.repaired.append(f"{device_id}: removed from group {name}")
                    commands.append(
                        {"command": "removeGroupClient", "groupname": name, "username": device_id}
                    )
            if bool(client.get("disabled", False)) != disabled:
                state = "disabled" if disabled else "enabled"
                report.repaired.append(f"{device_id}: client {state} as the device is")
                commands.append(
                    {"command": "disableClient" if disabled else "enableClient", "username": device_id}
                )
        for username, client in sorted(clients.items()):
            if username in wanted or username == self.url.username:
                continue
            ours = client.get("textname") == DEVICE_TEXTNAME or any(
                str(r.get("rolename", "")).startswith(DEVICE_ROLE_PREFIX) for r in client.get("roles", [])
            )
            if ours:
                report.deleted.append(f"client {username}")
                commands.append({"command": "deleteClient", "username": username})
        for rolename in sorted(roles):
            if rolename.startswith(DEVICE_ROLE_PREFIX) and rolename[len(DEVICE_ROLE_PREFIX) :] not in wanted:
                report.deleted.append(f"role {rolename}")
                commands.append({"command": "deleteRole", "rolename": rolename})
        if commands and not dry_run:
            self.client.run_all(commands, tolerate=("ACL not found",))
        return report
