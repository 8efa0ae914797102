app_name = "storage"
urlpatterns = []
