"""`{% viewer_styles %}`: the viewer page's stylesheets in a `<style>` element (portal.exams.styles)."""

from django import template
from django.utils.safestring import SafeString, mark_safe

from portal.exams import styles

register = template.Library()


@register.simple_tag
def viewer_styles() -> SafeString:
    # The project's own stylesheets, read from its static files: no text from a request enters them.
    return mark_safe(f"<style>{styles.viewer_styles()}</style>")  # noqa: S308
