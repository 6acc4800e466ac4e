"""What a User-Agent says a device is, in the words a patient knows it by: "Chrome", "Android".

ua-parser reads the User-Agent with uap-core's patterns (`ua_parser.parse`);
this module only shortens its names ("Mobile Safari" is Safari, "WeChat
Browser" is WeChat, iOS on an iPhone is the iPhone), and names WeChat's
in-app browser on Android, which uap-core takes for Chrome's WebView.
"""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from ua_parser import parse

BROWSER_NAMES = {
    "Chrome Mobile": "Chrome",
    "Chrome Mobile WebView": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "HeadlessChrome": "Chrome",
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "WeChat Browser": "WeChat",
    "WeChat": "WeChat",
    "QQ Browser Mobile": "QQ Browser",
    "UC Browser": "UC Browser",
}
SYSTEM_NAMES = {"Mac OS X": "Mac", "Chrome OS": "ChromeOS"}
DEVICES_NAMED = {"iPhone", "iPad"}  # an iOS device is known by its own name
UNKNOWN = "Other"
# Names kept in English in the table, said in the page's language (WeChat is 微信 in Chinese).
NAMES_IN_WORDS: dict[str, Promise] = {
    "WeChat": _("WeChat"),
    "QQ Browser": _("QQ Browser"),
    "UC Browser": _("UC Browser"),
}
WECHAT_MARK = "MicroMessenger"  # in every WeChat in-app browser's User-Agent (portal.exams.views.study too)


def browser_and_system(user_agent: str) -> tuple[str, str]:
    """The browser and the system or device a User-Agent names, each "" when it names none."""
    result = parse(user_agent[:512])
    browser = result.user_agent.family if result.user_agent else UNKNOWN
    system = result.os.family if result.os else UNKNOWN
    device = result.device.family if result.device else UNKNOWN
    browser = "" if browser == UNKNOWN else BROWSER_NAMES.get(browser, browser)
    if WECHAT_MARK in user_agent:
        browser = "WeChat"
    if device in DEVICES_NAMED:
        return browser, device
    return browser, "" if system == UNKNOWN else SYSTEM_NAMES.get(system, system)


def in_words(name: str) -> str:
    """A browser's or system's name as the page's language says it."""
    return str(NAMES_IN_WORDS.get(name, name))
