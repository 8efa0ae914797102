from django.urls import path

from console.mymodels import admin_views, views

# The "mymodels:" namespace also holds model_create, model_detail and model_delete:
# those pages need versions, so the versions app defines them and console/urls.py
# joins them to this list.
app_name = "mymodels"
urlpatterns = [
    path("projects/<str:project_id>/catalog/", views.catalog, name="catalog"),
    path("projects/<str:project_id>/models/", views.model_list, name="model_list"),
    path("projects/<str:project_id>/models/base-model-info/", views.base_version_info, name="base_version_info"),
    path("admin/catalog/base-models/", admin_views.base_version_admin, name="base_version_admin"),
    path("projects/<str:project_id>/models/weight-config/", views.weight_config, name="weight_config"),
]
