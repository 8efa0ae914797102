from django.urls import path

from console.storage import views

app_name = "storage"
urlpatterns = [
    path("projects/<str:project_id>/storage/", views.browser, name="browser"),
    path("projects/<str:project_id>/storage/folders/new/", views.folder_create, name="folder_create"),
    path("projects/<str:project_id>/storage/delete/", views.object_delete, name="delete"),
    path("projects/<str:project_id>/storage/upload/", views.upload, name="upload"),
    path("projects/<str:project_id>/storage/download/", views.download, name="download"),
    path("projects/<str:project_id>/storage/picker/", views.picker, name="picker"),
    path("projects/<str:project_id>/storage/buckets/new/", views.bucket_create, name="bucket_create"),
    path(
        "projects/<str:project_id>/storage/buckets/<str:bucket_name>/delete/", views.bucket_delete, name="bucket_delete"
    ),
]
