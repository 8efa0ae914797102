from django.urls import path

from console.services import views

app_name = "services"

BASE = "projects/<str:project_id>/services/"

urlpatterns = [
    path(BASE, views.service_list, name="list"),
    path(BASE + "deploy/<int:version_id>/", views.service_deploy, name="deploy"),
    path(BASE + "<uuid:service_id>/", views.service_detail, name="detail"),
    path(BASE + "<uuid:service_id>/charts/", views.service_charts, name="charts"),
    path(BASE + "<uuid:service_id>/instances/<int:instance_id>/log/", views.instance_log, name="instance_log"),
    path(BASE + "<uuid:service_id>/try-key/", views.try_key, name="try_key"),
    path(BASE + "<uuid:service_id>/keys/<int:key_id>/revoke/", views.key_revoke, name="key_revoke"),
    path(BASE + "<uuid:service_id>/<str:action>/", views.service_action, name="action"),
]
