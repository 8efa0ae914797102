from django.urls import path

from console.versions import views

# The pages of a model with its versions keep the "mymodels:" names and paths they always
# had: console/urls.py adds these to the mymodels namespace (mymodels cannot import them).
model_urlpatterns = [
    path("projects/<str:project_id>/models/create/", views.model_create, name="model_create"),
    path("projects/<str:project_id>/models/<int:model_id>/", views.model_detail, name="model_detail"),
    path("projects/<str:project_id>/models/<int:model_id>/delete/", views.model_delete, name="model_delete"),
]

app_name = "versions"
_version = "projects/<str:project_id>/models/<int:model_id>/versions/<int:number>/"
urlpatterns = [
    path(
        "projects/<str:project_id>/models/<int:model_id>/versions/create/", views.version_create, name="version_create"
    ),
    path(_version, views.version_detail, name="version_detail"),
    path(_version + "row/", views.version_row, name="version_row"),
    path(_version + "delete/", views.version_delete, name="version_delete"),
    path(_version + "revalidate/", views.version_revalidate, name="version_revalidate"),
    path(_version + "records/<int:record_id>/", views.record_detail, name="record_detail"),
    path(_version + "records/<int:record_id>/delete/", views.record_delete, name="record_delete"),
]
