from django.urls import path

from console.dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("projects/<str:project_id>/dashboard/", views.project_dashboard, name="project"),
    path("admin/operations/", views.operations, name="operations"),
]
