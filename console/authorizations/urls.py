app_name = "authorizations"
urlpatterns = []
