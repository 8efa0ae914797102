from django.contrib.auth import views as auth_views
from django.urls import path

from console.accounts import views

app_name = "accounts"
urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/language/", views.set_language, name="set_language"),
    path("projects/", views.project_list, name="project_list"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<str:project_id>/", views.project_detail, name="project_detail"),
    path("projects/<str:project_id>/switch/", views.project_switch, name="project_switch"),
    path("projects/<str:project_id>/members/add/", views.member_add, name="member_add"),
    path("projects/<str:project_id>/members/<int:membership_id>/role/", views.member_change_role, name="member_role"),
    path("projects/<str:project_id>/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("users/", views.user_list, name="user_list"),
    path("users/new/", views.user_create, name="user_create"),
    path("users/<int:user_id>/<slug:action>/", views.user_action, name="user_action"),
    path("organizations/", views.organization_list, name="organization_list"),
]
