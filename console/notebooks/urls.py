from django.urls import path

from console.notebooks import views

app_name = "notebooks"

BASE = "projects/<str:project_id>/notebooks/"

urlpatterns = [
    path(BASE, views.notebook_list, name="list"),
    path(BASE + "create/", views.notebook_create, name="create"),
    path(BASE + "warnings/", views.notebook_warnings, name="warnings"),
    path(BASE + "<uuid:notebook_id>/", views.notebook_detail, name="detail"),
    path(BASE + "<uuid:notebook_id>/<str:action>/", views.notebook_action, name="action"),
]
