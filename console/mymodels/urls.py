app_name = "mymodels"
urlpatterns = []
