from django.contrib import admin
from django.urls import include, path

from console.accounts.views import home
from console.mymodels import urls as mymodels_urls
from console.versions import urls as versions_urls

urlpatterns = [
    path("", home, name="home"),
    path("", include("console.accounts.urls")),
    path("admin/", include("console.core.urls")),
    path("admin/audit/", include("console.audit.urls")),
    path("", include("console.storage.urls")),
    path("", include("console.authorization_pages.urls")),
    # "mymodels:" = the My Models pages; those showing a model with its versions are the
    # versions app's (it sits above mymodels), under the same names and paths.
    path("", include((mymodels_urls.urlpatterns + versions_urls.model_urlpatterns, mymodels_urls.app_name))),
    path("", include("console.versions.urls")),
    path("", include("console.training.urls")),
    path("", include("console.notebooks.urls")),
    path("", include("console.services.urls")),
    path("", include("console.nodepools.urls")),
    path("", include("console.dashboard.urls")),
    path("django-admin/", admin.site.urls),
    path("", include("console.api.urls")),
]

handler403 = "console.core.views.error_403"
handler404 = "console.core.views.error_404"
handler500 = "console.core.views.error_500"
