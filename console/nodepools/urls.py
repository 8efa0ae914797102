from django.urls import path

from console.nodepools import views

app_name = "nodepools"
urlpatterns = [
    path("admin/pools/", views.pool_list, name="pool_list"),
    path("admin/pools/create/", views.pool_create, name="pool_create"),
    path("admin/pools/create/ray/", views.ray_pool_create, name="ray_pool_create"),
    path("admin/pools/<int:pool_id>/", views.pool_detail, name="pool_detail"),
    path("admin/pools/<int:pool_id>/edit/", views.pool_edit, name="pool_edit"),
    path("admin/pools/<int:pool_id>/delete/", views.pool_delete, name="pool_delete"),
    path("admin/pools/<int:pool_id>/ray/check/", views.ray_cluster_check, name="ray_cluster_check"),
    path("admin/pools/<int:pool_id>/ray/interpreter/", views.ray_interpreter_check, name="ray_interpreter_check"),
    path("admin/pools/<int:pool_id>/nodes/preview/", views.node_action_preview, name="node_action_preview"),
    path("admin/pools/<int:pool_id>/nodes/action/", views.node_action, name="node_action"),
    path("admin/pools/<int:pool_id>/nodes/<int:node_id>/billing/", views.node_billing_edit, name="node_billing"),
]
