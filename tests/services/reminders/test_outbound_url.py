"""Outbound requests to administrator-typed addresses never reach the server's own networks,
whatever spelling, resolver answer or redirect is used to get there."""

import ipaddress
import socket
from typing import Any

import pytest

from app.models.notification import WebhookChannel, WebhookKind
from app.services.reminders import channels as notify_channels
from app.services.reminders import outbound_url
from app.services.reminders.channels import DeliveryError
from app.settings import Settings
from tests.factories import LISTENER_HOST, WebhookServer
from tests.factories import REMINDER_NOW as NOW

NOTHING: frozenset[str] = frozenset()

INTERNAL_URLS = [
    "http://127.0.0.1:8000/",
    "http://127.1/",
    "http://0x7f.0.0.1/",
    "http://2130706433/",
    "http://localhost:6379/",
    "http://[::1]/",
    "http://10.0.0.8/robot",
    "http://172.16.1.1/",
    "http://192.168.1.10/",
    "http://[fc00::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[2002:7f00:1::]/",  # 6to4 around 127.0.0.1
]
# Never reachable, whatever RONGHE_OUTBOUND_ALLOWED_HOSTS says.
FORBIDDEN_URLS = [
    "http://0.0.0.0:22/",  # reaches this server's own listeners
    "http://169.254.169.254/latest/meta-data/",  # AWS, Huawei, Baidu cloud metadata
    "http://169.254.0.23/",  # Tencent Cloud metadata
    "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud metadata
    "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
    "http://192.0.0.192/",  # Oracle Cloud metadata
    "http://168.63.129.16/",  # Azure's platform endpoint, a public address
    "http://[fe80::1]/",
    "http://[::ffff:a9fe:a9fe]/",  # 169.254.169.254, mapped
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 around 169.254.169.254
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://[::]/",
]


class TestIsInternal:
    @pytest.mark.parametrize(
        "address",
        ["127.0.0.1", "10.1.1.1", "100.64.0.1", "169.254.169.254", "::1", "fec0::1", "fd12::1"],
    )
    def test_internal(self, address: str) -> None:
        assert outbound_url.is_internal(ipaddress.ip_address(address))

    @pytest.mark.parametrize("address", ["8.8.8.8", "203.119.128.1", "2400:3200::1"])
    def test_public(self, address: str) -> None:
        assert not outbound_url.is_internal(ipaddress.ip_address(address))


class TestCheckForSaving:
    @pytest.mark.parametrize("url", INTERNAL_URLS)
    def test_internal_addresses_are_refused(self, url: str) -> None:
        with pytest.raises(outbound_url.Refused) as refused:
            outbound_url.check_for_saving(url, allowed=NOTHING)
        assert str(refused.value) == outbound_url.INTERNAL

    @pytest.mark.parametrize("url", FORBIDDEN_URLS)
    def test_metadata_link_local_and_non_unicast_addresses_are_refused_even_when_listed(
        self, url: str
    ) -> None:
        listed = outbound_url.allowed_hosts(str(outbound_url.parse(url).host))
        for allowed in (NOTHING, listed):
            with pytest.raises(outbound_url.Refused) as refused:
                outbound_url.check_for_saving(url, allowed=allowed)
            assert str(refused.value) == outbound_url.FORBIDDEN

    @pytest.mark.parametrize("url", ["ftp://x/", "http:///path", "javascript:alert(1)", "http://"])
    def test_other_schemes_and_missing_hosts_are_refused(self, url: str) -> None:
        with pytest.raises(outbound_url.Refused):
            outbound_url.check_for_saving(url, allowed=NOTHING)

    def test_an_allowed_host_may_be_internal(self) -> None:
        allowed = outbound_url.allowed_hosts(" robot.corp.example , LocalHost ,10.0.8.20")
        outbound_url.check_for_saving("http://localhost:8080/hook", allowed=allowed)
        outbound_url.check_for_saving("http://10.0.8.20/hook", allowed=allowed)
        with pytest.raises(outbound_url.Refused):
            outbound_url.check_for_saving("http://10.0.8.21/hook", allowed=allowed)

    def test_a_public_address_is_accepted(self) -> None:
        outbound_url.check_for_saving("https://8.8.8.8/robot/send", allowed=NOTHING)

    def test_a_name_that_does_not_resolve_yet_is_accepted_but_checked_at_send(self) -> None:
        outbound_url.check_for_saving("https://robot.invalid/send", allowed=NOTHING)
        with pytest.raises(outbound_url.Refused) as refused:
            outbound_url.target("https://robot.invalid/send", allowed=NOTHING)
        assert str(refused.value) == outbound_url.UNRESOLVED


def fake_resolver(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[list[str]]]
) -> list[str]:
    """getaddrinfo answering `answers[host]` in turn (the last one repeats); the names asked."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in answers:
            return real(host, port, *args, **kwargs)
        asked.append(name)
        turn = answers[name][min(asked.count(name), len(answers[name])) - 1]
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in turn
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)  # the one outbound_url uses
    return asked


class TestResolvedOnce:
    def test_every_answer_is_checked(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fake_resolver(monkeypatch, {"robot.example": [["8.8.8.8", "127.0.0.1"]]})
        with pytest.raises(outbound_url.Refused):
            outbound_url.target("https://robot.example/send", allowed=NOTHING)
        with pytest.raises(outbound_url.Refused):
            outbound_url.check_for_saving("https://robot.example/send", allowed=NOTHING)

    def test_the_request_goes_to_the_checked_address_with_the_name_as_host(
        self,
        monkeypatch: pytest.MonkeyPatch,
        webhook_server: WebhookServer,
    ) -> None:
        received, base = webhook_server
        port = base.rsplit(":", 1)[1]
        # Nobody else can resolve this name: the request arrives only if it was sent to
        # the one address the check saw. A second lookup would get a different answer.
        asked = fake_resolver(monkeypatch, {"robot.corp.example": [["127.0.0.1"], ["127.0.0.2"]]})
        response = outbound_url.post(
            f"http://robot.corp.example:{port}/hook?key=k",
            content=b"{}",
            headers={"Content-Type": "application/json"},
            allowed=frozenset({"robot.corp.example"}),
            timeout=5,
        )
        assert response.status_code == 200
        assert asked == ["robot.corp.example"]
        assert received.requests[0]["headers"]["Host"] == f"robot.corp.example:{port}"
        assert received.requests[0]["path"] == "/hook?key=k"


ROBOT = "https://robot.corp.example/send"
ROBOT_LISTED = frozenset({"robot.corp.example"})


class TestAllowedHosts:
    """A listed name opens internal addresses to that host, and nothing more: it cannot be
    pointed (or rebound) at a cloud metadata service."""

    @pytest.mark.parametrize(
        "address",
        [
            "169.254.169.254",
            "169.254.0.23",
            "100.100.100.200",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:169.254.169.254",
            "0.0.0.0",  # noqa: S104 (an address refused, not bound)
        ],
    )
    def test_a_listed_name_resolving_to_metadata_is_refused(
        self, monkeypatch: pytest.MonkeyPatch, address: str
    ) -> None:
        fake_resolver(monkeypatch, {"robot.corp.example": [["10.0.8.20", address]]})
        with pytest.raises(outbound_url.Refused) as refused:
            outbound_url.check_for_saving(ROBOT, allowed=ROBOT_LISTED)
        assert str(refused.value) == outbound_url.FORBIDDEN
        with pytest.raises(outbound_url.Refused) as refused:
            outbound_url.target(ROBOT, allowed=ROBOT_LISTED)
        assert str(refused.value) == outbound_url.FORBIDDEN

    def test_a_listed_name_rebound_to_metadata_after_saving_is_not_contacted(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        fake_resolver(monkeypatch, {"robot.corp.example": [["10.0.8.20"], ["169.254.169.254"]]})
        outbound_url.check_for_saving(ROBOT, allowed=ROBOT_LISTED)
        with pytest.raises(outbound_url.Refused) as refused:
            outbound_url.post(ROBOT, content=b"{}", headers={}, allowed=ROBOT_LISTED, timeout=1)
        assert str(refused.value) == outbound_url.FORBIDDEN

    def test_a_listed_name_may_be_private(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fake_resolver(monkeypatch, {"robot.corp.example": [["10.0.8.20", "fd12::20"]]})
        outbound_url.check_for_saving(ROBOT, allowed=ROBOT_LISTED)
        assert outbound_url.target(ROBOT, allowed=ROBOT_LISTED).addresses == (
            "10.0.8.20",
            "fd12::20",
        )

    def test_loopback_only_when_its_name_or_its_address_is_listed(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        fake_resolver(monkeypatch, {"relay.corp.example": [["127.0.0.1"]]})
        url = "http://relay.corp.example:8025/hook"
        with pytest.raises(outbound_url.Refused) as refused:
            outbound_url.target(url, allowed=ROBOT_LISTED)
        assert str(refused.value) == outbound_url.INTERNAL
        for listed in ("relay.corp.example", "127.0.0.1"):
            allowed = outbound_url.allowed_hosts(listed)
            assert outbound_url.target(url, allowed=allowed).addresses == ("127.0.0.1",)
        allowed = outbound_url.allowed_hosts("127.0.0.1")
        outbound_url.check_for_saving("http://127.0.0.1:8025/hook", allowed=allowed)
        with pytest.raises(outbound_url.Refused):
            outbound_url.check_for_saving("http://127.0.0.2:8025/hook", allowed=allowed)


def settings_allowing(hosts: str) -> Settings:
    return Settings(environment="test", outbound_allowed_hosts=hosts)


def channel(url: str, kind: WebhookKind = WebhookKind.generic) -> WebhookChannel:
    return WebhookChannel(name="群", kind=kind, url=url)


class TestPostWebhook:
    def test_loopback_is_refused_before_any_connection(
        self,
        webhook_server: WebhookServer,
    ) -> None:
        received, base = webhook_server
        for url in (f"{base}/hook", base.replace(LISTENER_HOST, "127.0.0.1") + "/hook"):
            with pytest.raises(DeliveryError) as refused:
                notify_channels.post_webhook(settings_allowing(""), channel(url), "t", "l", NOW)
            assert str(refused.value) == outbound_url.INTERNAL
        assert received.requests == []

    def test_the_answer_of_a_server_is_never_repeated(
        self,
        webhook_server: WebhookServer,
    ) -> None:
        received, base = webhook_server
        settings = settings_allowing(LISTENER_HOST)
        received.status, received.raw = 500, b"root:x:0:0:SECRET-INSIDE"
        with pytest.raises(DeliveryError) as failed:
            notify_channels.post_webhook(settings, channel(f"{base}/h"), "t", "l", NOW)
        assert str(failed.value) == "generic: HTTP 500"
        received.status, received.raw = 200, b'{"errcode": 40001, "errmsg": "SECRET-INSIDE"}'
        with pytest.raises(DeliveryError) as failed:
            notify_channels.post_webhook(
                settings, channel(f"{base}/h", WebhookKind.wecom), "t", "l", NOW
            )
        assert str(failed.value) == "wecom: errcode 40001"
        received.raw = b'{"errcode": "SECRET-INSIDE"}'
        with pytest.raises(DeliveryError) as failed:
            notify_channels.post_webhook(
                settings, channel(f"{base}/h", WebhookKind.dingtalk), "t", "l", NOW
            )
        assert "SECRET" not in str(failed.value)

    def test_a_redirect_is_not_followed(
        self,
        webhook_server: WebhookServer,
    ) -> None:
        received, base = webhook_server
        received.status = 302
        received.headers = {"Location": f"{base}/internal-only"}
        with pytest.raises(DeliveryError) as failed:
            notify_channels.post_webhook(
                settings_allowing(LISTENER_HOST), channel(f"{base}/h"), "t", "l", NOW
            )
        assert str(failed.value) == "generic: HTTP 302"
        assert [r["path"] for r in received.requests] == ["/h"]

    def test_an_unreachable_port_says_so_without_details(self) -> None:
        with pytest.raises(DeliveryError) as failed:
            notify_channels.post_webhook(
                settings_allowing(LISTENER_HOST), channel("http://localhost:1/h"), "t", "l", NOW
            )
        assert str(failed.value) == notify_channels.UNREACHABLE


class TestOneLine:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("设备\n数据采集", "设备 数据采集"),
            ("a\r\nb", "a b"),
            ("a\u2028b\u2029c", "a b c"),
            ("a\x85b\x0bc\x00d", "a b c d"),
            ("任务“质量手册”：还有 7 天到期", "任务“质量手册”：还有 7 天到期"),
        ],
    )
    def test_header_text_is_one_clean_line(self, text: str, expected: str) -> None:
        assert notify_channels.one_line(text) == expected
