from django.urls import path

from console.nodepools import views

app_name = "nodepools"
urlpatterns = [
    path("admin/pools/", views.pool_list, name="pool_list"),
    path("admin/pools/create/", views.pool_create, name="pool_create"),
    path("admin/pools/<int:pool_id>/", views.pool_detail, name="pool_detail"),
    path("admin/pools/<int:pool_id>/edit/", views.pool_edit, name="pool_edit"),
    path("admin/pools/<int:pool_id>/delete/", views.pool_delete, name="pool_delete"),
    path("admin/pools/<int:pool_id>/nodes/preview/", views.node_action_preview, name="node_action_preview"),
    path("admin/pools/<int:pool_id>/nodes/action/", views.node_action, name="node_action"),
    path("admin/pools/<int:pool_id>/nodes/<int:node_id>/billing/", views.node_billing_edit, name="node_billing"),
]
