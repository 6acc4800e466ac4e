"""Body Part Examined (0018,0015) codes in words people read, in the interface's language.

The codes are the Defined Terms of PS3.16 Annex L (Correspondence of Anatomic
Region Codes and Body Part Examined Defined Terms) that the region's
modalities send most. A code not listed here is shown as the sender wrote it.
"""

from django.utils.functional import Promise
from django.utils.translation import pgettext, pgettext_lazy

BODY_PARTS: dict[str, Promise] = {
    "ABDOMEN": pgettext_lazy("body part", "Abdomen"),
    "ABDOMENPELVIS": pgettext_lazy("body part", "Abdomen and pelvis"),
    "ANKLE": pgettext_lazy("body part", "Ankle"),
    "ARM": pgettext_lazy("body part", "Arm"),
    "BRAIN": pgettext_lazy("body part", "Brain"),
    "BREAST": pgettext_lazy("body part", "Breast"),
    "CHEST": pgettext_lazy("body part", "Chest"),
    "CHESTABDOMEN": pgettext_lazy("body part", "Chest and abdomen"),
    "CHESTABDPELVIS": pgettext_lazy("body part", "Chest, abdomen and pelvis"),
    "CSPINE": pgettext_lazy("body part", "Cervical spine"),
    "ELBOW": pgettext_lazy("body part", "Elbow"),
    "EXTREMITY": pgettext_lazy("body part", "Extremity"),
    "FOOT": pgettext_lazy("body part", "Foot"),
    "HAND": pgettext_lazy("body part", "Hand"),
    "HEAD": pgettext_lazy("body part", "Head"),
    "HEADNECK": pgettext_lazy("body part", "Head and neck"),
    "HEART": pgettext_lazy("body part", "Heart"),
    "HIP": pgettext_lazy("body part", "Hip"),
    "KIDNEY": pgettext_lazy("body part", "Kidney"),
    "KNEE": pgettext_lazy("body part", "Knee"),
    "LEG": pgettext_lazy("body part", "Leg"),
    "LIVER": pgettext_lazy("body part", "Liver"),
    "LSPINE": pgettext_lazy("body part", "Lumbar spine"),
    "LUNG": pgettext_lazy("body part", "Lung"),
    "NECK": pgettext_lazy("body part", "Neck"),
    "PELVIS": pgettext_lazy("body part", "Pelvis"),
    "SHOULDER": pgettext_lazy("body part", "Shoulder"),
    "SKULL": pgettext_lazy("body part", "Skull"),
    "SPINE": pgettext_lazy("body part", "Spine"),
    "TSPINE": pgettext_lazy("body part", "Thoracic spine"),
    "WRIST": pgettext_lazy("body part", "Wrist"),
}


def body_part_name(code: str) -> str:
    """The words for a Body Part Examined code, or the code itself when it is not a known one."""
    name = BODY_PARTS.get(code.strip().upper())
    return str(name) if name is not None else code


def body_part_names(codes: list[str]) -> str:
    """Several body parts, joined as the interface's language lists things ("胸部、腹部")."""
    return list_separator().join(body_part_name(code) for code in codes)


def list_separator() -> str:
    return pgettext("between the items of a list", ", ")
