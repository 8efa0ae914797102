from django.urls import path

from console.authorization_pages import views

app_name = "authorizations"
_base = "projects/<str:project_id>/authorizations/"
urlpatterns = [
    path(_base, views.authorization_list, name="list"),
    path(_base + "create/", views.authorization_create, name="create"),
    path(_base + "delete/", views.authorization_delete_batch, name="delete_batch"),
    path(_base + "all-users/delete/", views.authorization_delete_all_users, name="delete_all_users"),
    path(_base + "<int:authorization_id>/delete/", views.authorization_delete, name="delete"),
    path(_base + "agencies/create/", views.agency_create, name="agency_create"),
    path(_base + "agencies/<int:agency_id>/delete/", views.agency_delete, name="agency_delete"),
]
