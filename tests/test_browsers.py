"""A remembered phone is named by its User-Agent in the words a patient knows (accounts.browsers)."""

import pytest

from accounts.browsers import browser_and_system

AGENTS = {
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36": ("Chrome", "Android"),
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.40(0x18002831) NetType/WIFI Language/zh_CN": ("WeChat", "iPhone"),
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1": ("Safari", "iPhone"),
    "Mozilla/5.0 (Linux; Android 13; V2183A; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
    "Chrome/87.0.4280.141 Mobile Safari/537.36 MicroMessenger/8.0.30.2260(0x28001E3B) WeChat/arm64": (
        "WeChat",
        "Android",
    ),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0": ("Edge", "Windows"),
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Safari/605.1.15": ("Safari", "Mac"),
    "": ("", ""),
    "curl/8.5.0": ("curl", ""),
    "\x00" * 2000: ("", ""),
}


@pytest.mark.parametrize(("agent", "expected"), AGENTS.items())
def test_it_names_the_browser_and_the_phone(agent: str, expected: tuple[str, str]) -> None:
    assert browser_and_system(agent) == expected
