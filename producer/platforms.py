"""How shoppers arrive: (source, device, browser) combinations with their traffic shares.

Vietnamese e-commerce traffic is mostly mobile (about three quarters of visits to the big
marketplaces are commonly reported to come from phones): website visits are desktop or
tablet, mobile_web and mobile_app visits phones or tablets. Cốc Cốc, the Vietnamese browser, is
second to Chrome on desktops; Safari follows the iPhone's share on phones.
"""

from __future__ import annotations

Platform = tuple[str, str, str]

#: ((source, device, browser), share of sessions in percent).
PLATFORMS: tuple[tuple[Platform, float], ...] = (
    (("website", "desktop", "Chrome"), 12.0),
    (("website", "desktop", "Cốc Cốc"), 4.5),
    (("website", "desktop", "Edge"), 2.5),
    (("website", "desktop", "Firefox"), 1.0),
    (("website", "desktop", "Safari"), 1.5),
    (("website", "tablet", "Safari"), 1.5),
    (("website", "tablet", "Chrome"), 1.0),
    (("mobile_web", "mobile", "Chrome"), 17.0),
    (("mobile_web", "mobile", "Safari"), 12.0),
    (("mobile_web", "mobile", "Cốc Cốc"), 3.0),
    (("mobile_web", "mobile", "Samsung Internet"), 3.0),
    (("mobile_web", "tablet", "Safari"), 2.0),
    (("mobile_web", "tablet", "Chrome"), 1.0),
    (("mobile_app", "mobile", "TechStore App (Android)"), 21.0),
    (("mobile_app", "mobile", "TechStore App (iOS)"), 14.0),
    (("mobile_app", "tablet", "TechStore App (iOS)"), 2.0),
    (("mobile_app", "tablet", "TechStore App (Android)"), 1.0),
)
