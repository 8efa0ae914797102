from django.urls import path

from console.training import admin_views, lineage_views, ray_views, views

app_name = "training"

JOB = "projects/<str:project_id>/training/jobs/<uuid:job_id>/"
ALGORITHM = "projects/<str:project_id>/training/algorithms/<uuid:algorithm_id>/"

urlpatterns = [
    path("projects/<str:project_id>/training/jobs/", views.job_list, name="job_list"),
    path("projects/<str:project_id>/training/jobs/create/", views.job_create, name="job_create"),
    path(
        "projects/<str:project_id>/training/jobs/create/fields/",
        views.job_algorithm_fields,
        name="job_algorithm_fields",
    ),
    path("projects/<str:project_id>/training/jobs/compare/", lineage_views.job_compare, name="job_compare"),
    path("training/notices/", lineage_views.job_notices, name="job_notices"),
    path(JOB, views.job_detail, name="job_detail"),
    path(JOB + "rerun/", lineage_views.job_rerun, name="job_rerun"),
    path(JOB + "register-version/", lineage_views.job_register_version, name="job_register_version"),
    path(JOB + "row/", views.job_row, name="job_row"),
    path(JOB + "status/", views.job_status, name="job_status"),
    path(JOB + "stop/", views.job_stop, name="job_stop"),
    path(JOB + "delete/", views.job_delete, name="job_delete"),
    path(JOB + "outputs/", views.job_outputs, name="job_outputs"),
    path(JOB + "outputs/download/", views.job_output_download, name="job_output_download"),
    path(JOB + "tasks/<str:task_name>/log/", views.task_log, name="task_log"),
    path(JOB + "tasks/<str:task_name>/log/download/", views.task_log_download, name="task_log_download"),
    path(JOB + "tasks/<str:task_name>/metrics/", views.task_metrics, name="task_metrics"),
    path(JOB + "scalars/", views.job_scalars, name="job_scalars"),
    path(JOB + "scalars/download/", views.job_scalars_download, name="job_scalars_download"),
    path("projects/<str:project_id>/training/algorithms/", views.algorithm_list, name="algorithm_list"),
    path("projects/<str:project_id>/training/algorithms/create/", views.algorithm_create_view, name="algorithm_create"),
    path(ALGORITHM, views.algorithm_detail, name="algorithm_detail"),
    path(ALGORITHM + "edit/", views.algorithm_edit, name="algorithm_edit"),
    path(ALGORITHM + "delete/", views.algorithm_delete_view, name="algorithm_delete"),
    path("admin/training/flavors/", admin_views.flavor_list, name="flavor_list"),
    path("admin/training/flavors/create/", admin_views.flavor_edit, name="flavor_create"),
    path("admin/training/flavors/<int:pk>/edit/", admin_views.flavor_edit, name="flavor_edit"),
    path("admin/training/flavors/<int:pk>/delete/", admin_views.flavor_delete_view, name="flavor_delete"),
    path("admin/training/engines/", admin_views.engine_list, name="engine_list"),
    path("admin/training/engines/<int:pk>/toggle/", admin_views.engine_toggle, name="engine_toggle"),
    path("admin/training/engines/<int:pk>/tags/", admin_views.engine_tags, name="engine_tags"),
    path("admin/training/engines/<int:pk>/delete/", admin_views.engine_delete_view, name="engine_delete"),
    path("admin/training/nodes/", admin_views.node_list, name="node_list"),
    # A Ray pool's bootstrap (console.training.ray_bootstrap): the signed credential is the only key.
    path("executor/ray/<str:token>/spec", ray_views.ray_spec, name="ray_spec"),
    path("executor/ray/<str:token>/log", ray_views.ray_log, name="ray_log"),
    path("executor/ray/<str:token>/files/<str:area>/<str:name>/<path:path>", ray_views.ray_file, name="ray_file"),
]
