"""What the public pages a customer opens from a message say, in each language they read.

The unsubscribe page and its confirmation, the survey answer page and a refused link (forged,
expired, unknown) all take their wording from here, in English and Simplified Chinese. The page
speaks the customer's profile locale when its link names a customer, else the first language
of the browser's Accept-Language header it has wording for, else English.
"""

from __future__ import annotations

DEFAULT = "en"
# An Accept-Language header is the browser's; past this many characters or ranges the rest is
# not read (it is never needed to pick one of two languages).
MAX_HEADER = 1000
MAX_RANGES = 32

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "unsubscribe.title": "Unsubscribe",
        "unsubscribe.question": "Stop {channel} messages about offers and news?",
        "unsubscribe.button": "Unsubscribe",
        "unsubscribe.done": "You are unsubscribed",
        "unsubscribe.done_body": "You will get no more marketing {channel} messages from us.",
        "unsubscribe.unavailable": "Unsubscribe is not available",
        "survey.unavailable": "Surveys are not available",
        "survey.title.nps": "Would you recommend us?",
        "survey.title.csat": "How did we do?",
        "nps": "How likely are you to recommend us to a friend? (0 = not at all, 10 = very)",
        "csat": "How satisfied are you? (1 = very unsatisfied, 5 = very satisfied)",
        "comment": "Anything you want to tell us? (optional)",
        "send": "Send",
        "thanks": "Thank you for your answer!",
        "done": "You have already answered this survey. Thank you!",
        "range": "Please choose one of the scores.",
        "long": "Your comment is too long: please keep it to {limit} characters.",
        "bad": "This link cannot be used",
        # English refusals say what the token check found (its own message).
    },
    "zh-CN": {
        "unsubscribe.title": "退订",
        "unsubscribe.question": "不再接收关于优惠和新闻的{channel}吗？",
        "unsubscribe.button": "退订",
        "unsubscribe.done": "您已成功退订",
        "unsubscribe.done_body": "我们不会再给您发送营销{channel}。",
        "unsubscribe.unavailable": "暂时无法退订",
        "survey.unavailable": "问卷暂时无法使用",
        "survey.title.nps": "您会推荐我们吗？",
        "survey.title.csat": "您对我们满意吗？",
        "nps": "您有多大可能向朋友推荐我们？（0 = 完全不会，10 = 非常可能）",
        "csat": "您对这次服务满意吗？（1 = 非常不满意，5 = 非常满意）",
        "comment": "还有什么想告诉我们的吗？（选填）",
        "send": "提交",
        "thanks": "感谢您的回答！",
        "done": "您已经回答过这份问卷，谢谢！",
        "range": "请选择一个分数。",
        "long": "您的留言太长了：请控制在 {limit} 个字符以内。",
        "bad": "此链接无法使用",
        "refused.malformed": "链接不完整或格式有误，请直接点击邮件中的链接。",
        "refused.forged": "链接已被改动，或不是我们发出的链接。",
        "refused.expired": "链接已过期。",
        "refused.unknown_survey": "找不到这份问卷。",
    },
}
CHANNELS: dict[str, dict[str, str]] = {
    "zh-CN": {"email": "邮件", "sms": "短信", "webhook": "消息"},
}


def _supported(tag: str) -> str | None:
    """The locale we have wording for that reads `tag` (`zh`, `zh-Hans-CN`: zh-CN), if any."""
    wanted = tag.strip().lower()
    for locale in TEXTS:
        if wanted == locale.lower():
            return locale
    language = wanted.split("-")[0]
    return next((loc for loc in TEXTS if loc.lower().split("-")[0] == language), None)


def _accepted(header: str) -> list[str]:
    """The language ranges of an Accept-Language header, most wanted first (RFC 9110)."""
    ranges: list[tuple[float, int, str]] = []
    for position, part in enumerate(header[:MAX_HEADER].split(",")[:MAX_RANGES]):
        tag, _, parameters = part.partition(";")
        weight = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag.strip() and 0 < weight <= 1:  # q=0 (and a NaN) mean "not this one"
            ranges.append((-weight, position, tag.strip()))
    return [tag for _, _, tag in sorted(ranges)]


def page_locale(profile_locale: str | None, accept_language: str | None) -> str:
    """The language of a public page: the customer's, else the browser's, else English."""
    if profile_locale and (chosen := _supported(profile_locale)):
        return chosen
    for tag in _accepted(accept_language or ""):
        if tag == "*":
            return DEFAULT
        if chosen := _supported(tag):
            return chosen
    return DEFAULT


def texts(locale: str) -> dict[str, str]:
    """The pages' wording in `locale` (one page_locale chose)."""
    return TEXTS.get(locale, TEXTS[DEFAULT])


def channel_name(channel: str, locale: str) -> str:
    """A channel as a reader of `locale` reads it (email in zh-CN: 邮件)."""
    return CHANNELS.get(locale, {}).get(channel, channel)


def refusal(reason: str, message: str, locale: str) -> str:
    """Why a link is refused: the reason's wording in `locale`, else the check's own message."""
    return texts(locale).get(f"refused.{reason}", message)
