from django.urls import path

from console.mymodels import views

app_name = "mymodels"
urlpatterns = [
    path("projects/<str:project_id>/catalog/", views.catalog, name="catalog"),
    path("projects/<str:project_id>/models/", views.model_list, name="model_list"),
    path("projects/<str:project_id>/models/create/", views.model_create, name="model_create"),
    path("projects/<str:project_id>/models/base-model-info/", views.base_version_info, name="base_version_info"),
    path("projects/<str:project_id>/models/<int:model_id>/", views.model_detail, name="model_detail"),
    path("projects/<str:project_id>/models/<int:model_id>/delete/", views.model_delete, name="model_delete"),
]
