app_name = "versions"
urlpatterns = []
