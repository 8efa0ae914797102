"""Sign-in events that belong in the audit log."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils.translation import check_for_language


@receiver(user_logged_in)
def remember_language(sender, request, user, **kwargs):
    # The language picked on the sign-in page carries into the profile once.
    from django.conf import settings

    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    profile = getattr(user, "profile", None)
    if profile is not None and chosen and check_for_language(chosen) and chosen != profile.language:
        profile.language = chosen
        profile.save(update_fields=["language"])
