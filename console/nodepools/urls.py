app_name = "nodepools"
urlpatterns = []
