"""The sharing app's part of the patient's exam page: `{% share_box study %}`, the share form.

The exam page is the exams app's; the form and where it posts are this app's.
A template tag lets the page show it while exams imports nothing of sharing
(the app above it).
"""

from typing import Any

from django import template

from imaging.models import Study
from portal.sharing.forms import ShareForm

register = template.Library()


@register.inclusion_tag("sharing/share_box.html", takes_context=True)
def share_box(context: template.Context, study: Study) -> dict[str, Any]:
    return {"study": study, "share_form": ShareForm(), "csrf_token": context.get("csrf_token")}
