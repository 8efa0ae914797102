from django.contrib import admin
from django.urls import include, path

from console.accounts.views import home

urlpatterns = [
    path("", home, name="home"),
    path("", include("console.accounts.urls")),
    path("admin/", include("console.core.urls")),
    path("admin/audit/", include("console.audit.urls")),
    path("", include("console.storage.urls")),
    path("", include("console.authorizations.urls")),
    path("", include("console.mymodels.urls")),
    path("", include("console.versions.urls")),
    path("", include("console.training.urls")),
    path("", include("console.nodepools.urls")),
    path("django-admin/", admin.site.urls),
    path("", include("console.api.urls")),
]

handler403 = "console.core.views.error_403"
handler404 = "console.core.views.error_404"
handler500 = "console.core.views.error_500"
