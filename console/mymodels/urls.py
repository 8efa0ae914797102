from django.urls import path

from console.mymodels import views

# The "mymodels:" namespace also holds model_create, model_detail and model_delete:
# those pages need versions, so the versions app defines them and console/urls.py
# joins them to this list.
app_name = "mymodels"
urlpatterns = [
    path("projects/<str:project_id>/catalog/", views.catalog, name="catalog"),
    path("projects/<str:project_id>/models/", views.model_list, name="model_list"),
    path("projects/<str:project_id>/models/base-model-info/", views.base_version_info, name="base_version_info"),
]
